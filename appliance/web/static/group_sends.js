// Send to group: rows of sends still scheduled or going out are refreshed until they finish.
// The server renders each row (escaped by Jinja); nothing is built into HTML here.
(function () {
  "use strict";

  var table = document.getElementById("sends");
  if (!table || !table.dataset.liveIds) {
    return;
  }
  var live = table.dataset.liveIds.split(",").filter(Boolean);
  var interval = Number(table.dataset.pollInterval) || 3000;

  function poll() {
    fetch(table.dataset.progressUrl + "?ids=" + encodeURIComponent(live.join(",")), {
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
          var row = document.getElementById("send-" + item.id);
          if (row) {
            row.outerHTML = item.html;
          }
          if (item.live) {
            still.push(String(item.id));
          }
        });
        live = still;
      })
      .catch(function () {
        // The box may be restarting: ask again at the next tick.
      })
      .finally(function () {
        if (live.length) {
          window.setTimeout(poll, interval);
        }
      });
  }

  window.setTimeout(poll, interval);
})();
