// System page: each AT log box opens on its newest lines (the bottom), where a support person looks first.
(function () {
  "use strict";
  document.querySelectorAll("pre.at-lines").forEach(function (box) {
    box.scrollTop = box.scrollHeight;
  });
})();
