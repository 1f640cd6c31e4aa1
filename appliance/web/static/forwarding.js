// Forward target form: show the fields of the chosen kind only, name the address after it, and ask
// before a secret is rotated or a target deleted. Without scripts every field shows and forms post as is.
(function () {
  "use strict";

  var form = document.querySelector("form.target-form");
  if (form) {
    var kind = form.querySelector("select[name=kind]");
    var addressLabel = form.querySelector("label[for=address]");
    var labels = JSON.parse(form.dataset.addressLabels || "{}");
    var apply = function () {
      form.querySelectorAll("fieldset[data-kinds]").forEach(function (set) {
        set.hidden = set.dataset.kinds.split(" ").indexOf(kind.value) < 0;
      });
      if (addressLabel && labels[kind.value]) {
        addressLabel.textContent = labels[kind.value];
      }
    };
    kind.addEventListener("change", apply);
    apply();
  }

  document.querySelectorAll("form[data-confirm]").forEach(function (confirmed) {
    confirmed.addEventListener("submit", function (event) {
      if (!window.confirm(confirmed.dataset.confirm)) {
        event.preventDefault();
      }
    });
  });
})();
