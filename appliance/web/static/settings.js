// Settings: the "Copy" button beside a token shown once. Plain HTTP on the LAN has no
// navigator.clipboard (secure contexts only), so the text is selected and copied the old way too.
(function () {
  "use strict";

  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var input = document.getElementById(button.dataset.copy);
      if (!input) {
        return;
      }
      input.focus();
      input.select();
      function done() {
        button.textContent = button.dataset.copied || "Copied";
      }
      function copySelected() {
        if (document.execCommand("copy")) {
          done();
        }
      }
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(input.value).then(done, copySelected);
      } else {
        copySelected();
      }
    });
  });
})();
