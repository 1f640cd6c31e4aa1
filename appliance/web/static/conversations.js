// A conversation: texts still on their way (queued, sending) get their new status badge without a
// reload. The server renders each badge (escaped by Jinja); nothing is built into HTML here.
(function () {
  "use strict";

  var list = document.getElementById("conversation");
  if (!list || !list.dataset.onTheirWay) {
    return;
  }
  var onTheirWay = ["queued", "sending"];
  window.refreshUntilSettled(list.dataset.statusesUrl, list.dataset.onTheirWay.split(","),
                             Number(list.dataset.pollInterval) || 3000, function (item) {
    var holder = document.getElementById("status-" + item.id);
    if (holder) {
      holder.innerHTML = item.html;
    }
    return onTheirWay.indexOf(item.status) >= 0;
  });
})();
