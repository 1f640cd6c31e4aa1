// Send to group: rows of sends still scheduled or going out are refreshed until they finish.
// The server renders each row (escaped by Jinja); nothing is built into HTML here.
(function () {
  "use strict";

  var table = document.getElementById("sends");
  if (!table || !table.dataset.liveIds) {
    return;
  }
  window.refreshUntilSettled(table.dataset.progressUrl, table.dataset.liveIds.split(","),
                             Number(table.dataset.pollInterval) || 3000, function (item) {
    var row = document.getElementById("send-" + item.id);
    if (row) {
      row.outerHTML = item.html;
    }
    return item.live;
  });
})();
