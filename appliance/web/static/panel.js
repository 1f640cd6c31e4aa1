// Live messages panel: polls for messages newer than the newest row and prepends them.
// The server renders each row (escaped by Jinja), so no message text is ever built into HTML here.
(function () {
  "use strict";

  function localiseTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (!isNaN(when)) {
        el.title = el.textContent;
        el.textContent = when.toLocaleString();
      }
    });
  }

  localiseTimes(document);

  var list = document.getElementById("messages");
  if (!list || list.dataset.live !== "true") {
    return;
  }
  var lastId = Number(list.dataset.lastId) || 0;
  var interval = Number(list.dataset.pollInterval) || 2000;
  var status = document.getElementById("live-status");
  var modems = document.getElementById("modems");

  function setLive(ok) {
    if (status) {
      status.textContent = ok ? "live" : "connection lost, retrying…";
      status.className = ok ? "live" : "live offline";
    }
  }

  function apply(data) {
    data.items.forEach(function (item) {
      if (item.id <= lastId) {
        return;
      }
      var empty = list.querySelector("tr.empty");
      if (empty) {
        empty.remove();
      }
      list.insertAdjacentHTML("afterbegin", item.html);
      localiseTimes(list.firstElementChild);
      lastId = item.id;
    });
    if (modems && typeof data.modems_html === "string") {
      modems.innerHTML = data.modems_html;
    }
  }

  function poll() {
    fetch(list.dataset.pollUrl + "?after_id=" + encodeURIComponent(lastId), {
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
        apply(data);
        setLive(true);
      })
      .catch(function () {
        setLive(false);
      })
      .finally(function () {
        window.setTimeout(poll, interval);
      });
  }

  window.setTimeout(poll, interval);
})();
