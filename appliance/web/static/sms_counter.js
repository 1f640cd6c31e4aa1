// The counter under a text box: characters and SMS parts, split as the appliance's encoder splits
// (appliance/codecs/sms_pdu.py measure_text). The characters and part sizes come from the server
// (data-sms-counter on the <output>), so only the splitting rules live here:
// GSM 7-bit when every character has a septet (extension characters take two, and an escape pair
// never straddles two parts), else UCS-2 in UTF-16 units (a surrogate pair never straddles two parts).
(function () {
  "use strict";

  function measure(text, config) {
    var single = new Set(Array.from(config.single));
    var double = new Set(Array.from(config.double));
    var codes = [];
    var chars = Array.from(text);
    for (var i = 0; i < chars.length; i++) {
      if (single.has(chars[i])) {
        codes.push(1);
      } else if (double.has(chars[i])) {
        codes.push(2);
      } else {
        return measureUcs2(text, config.ucs2);
      }
    }
    var units = codes.reduce(function (sum, code) { return sum + code; }, 0);
    if (units <= config.gsm7[0]) {
      return { alphabet: "gsm7", units: units, parts: 1, perPart: config.gsm7[0] };
    }
    var room = config.gsm7[1];
    var parts = 1;
    var filled = 0;
    codes.forEach(function (code) {
      if (filled + code > room) {
        parts += 1;
        filled = 0;
      }
      filled += code;
    });
    return { alphabet: "gsm7", units: units, parts: parts, perPart: room };
  }

  function measureUcs2(text, sizes) {
    var units = text.length;
    if (units <= sizes[0]) {
      return { alphabet: "ucs2", units: units, parts: 1, perPart: sizes[0] };
    }
    var room = sizes[1];
    var parts = 0;
    var start = 0;
    while (start < units) {
      var end = Math.min(start + room, units);
      var last = text.charCodeAt(end - 1);
      if (end < units && last >= 0xd800 && last <= 0xdbff) {
        end -= 1;
      }
      parts += 1;
      start = end;
    }
    return { alphabet: "ucs2", units: units, parts: parts, perPart: room };
  }

  function line(size, config) {
    var values = {
      units: size.units,
      capacity: size.perPart * size.parts,
      parts: size.parts,
      alphabet: config.alphabets[size.alphabet],
    };
    return config.format.replace(/%\((\w+)\)s/g, function (_match, name) {
      return String(values[name]);
    });
  }

  document.querySelectorAll("output[data-sms-counter]").forEach(function (output) {
    var config = JSON.parse(output.dataset.smsCounter);
    var box = document.getElementById(output.htmlFor.value);
    if (!box) {
      return;
    }
    function update() {
      var size = measure(box.value, config);
      output.textContent = line(size, config);
      output.dataset.parts = String(size.parts);
      output.classList.toggle("too-long", size.parts > config.max_parts);
    }
    box.addEventListener("input", update);
    update();
  });
})();
