// A conversation: texts still on their way (queued, sending) get their new status badge without a
// reload. The server renders each badge (escaped by Jinja); nothing is built into HTML here.
(function () {
  "use strict";

  var list = document.getElementById("conversation");
  if (!list || !list.dataset.onTheirWay) {
    return;
  }
  var waiting = list.dataset.onTheirWay.split(",").filter(Boolean);
  var interval = Number(list.dataset.pollInterval) || 3000;
  var onTheirWay = ["queued", "sending"];

  function poll() {
    fetch(list.dataset.statusesUrl + "?ids=" + encodeURIComponent(waiting.join(",")), {
      headers: { Accept: "application/json" },
      cache: "no-store",
    })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        var still = [];
        data.items.forEach(function (item) {
          var holder = document.getElementById("status-" + item.id);
          if (holder) {
            holder.innerHTML = item.html;
          }
          if (onTheirWay.indexOf(item.status) >= 0) {
            still.push(String(item.id));
          }
        });
        waiting = still;
      })
      .catch(function () {
        // The box may be restarting: ask again at the next tick.
      })
      .finally(function () {
        if (waiting.length) {
          window.setTimeout(poll, interval);
        }
      });
  }

  if (waiting.length) {
    window.setTimeout(poll, interval);
  }
})();
