// The panel's shared script: times in the browser's own zone, and live updates over server-sent events
// (GET /panel/events, see appliance/web/panel_events.py) for a page that has a #live-events element.
// The server renders every piece of HTML it sends (escaped by Jinja), so no text of a message is ever
// built into HTML here. Each event is also dispatched on document as "panel:<name>" (detail: its data),
// for a page's own script, e.g. document.addEventListener("panel:poll", ...).
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

  // Rows still on their way (texts queued or sending, group sends going out): ask `url` about `ids`
  // every `interval` ms; `update(item)` puts the server's rendered HTML in place and says whether
  // the item is still on its way. Stops once none is.
  window.refreshUntilSettled = function (url, ids, interval, update) {
    var waiting = ids.filter(Boolean);
    function ask() {
      fetch(url + "?ids=" + encodeURIComponent(waiting.join(",")), {
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
          waiting = data.items.filter(update).map(function (item) { return String(item.id); });
        })
        .catch(function () {
          // The box may be restarting: ask again at the next tick.
        })
        .finally(function () {
          if (waiting.length) {
            window.setTimeout(ask, interval);
          }
        });
    }
    if (waiting.length) {
      window.setTimeout(ask, interval);
    }
  };

  var source = document.getElementById("live-events");
  if (!source || !window.EventSource) {
    return;
  }
  var status = document.getElementById("live-status");
  var lastEventId = null;
  var offlineTimer = null;

  function setLive(ok) {
    if (!status) {
      return;
    }
    if (!status.dataset.online) {
      status.dataset.online = status.textContent;
    }
    status.textContent = ok ? status.dataset.online : status.dataset.offline || "…";
    status.classList.toggle("offline", !ok);
  }

  function fill(id, html) {
    var target = document.getElementById(id);
    if (target && typeof html === "string") {
      target.innerHTML = html;
      localiseTimes(target);
    }
  }

  // A row goes where its id puts it (newest first); a row already shown is replaced (an MMS that
  // finished downloading, or a row sent again after a reconnect).
  function placeRow(item) {
    var list = document.getElementById("messages");
    if (!list) {
      return;
    }
    var template = document.createElement("template");
    template.innerHTML = item.html;
    var row = template.content.firstElementChild;
    if (!row) {
      return;
    }
    var shown = document.getElementById("message-" + item.id);
    if (shown) {
      shown.replaceWith(row);
    } else {
      var next = Array.prototype.find.call(list.querySelectorAll("tr.message"), function (other) {
        return Number(other.dataset.id) < item.id;
      });
      if (next) {
        list.insertBefore(row, next);
      } else if (list.dataset.hasOlder === "true") {
        return; // older than every row here: it belongs on a later page
      } else {
        list.appendChild(row);
      }
      var empty = list.querySelector("tr.empty");
      if (empty) {
        empty.remove();
      }
    }
    localiseTimes(row);
  }

  // What this script does with each event itself; "poll" is only dispatched (the polls page draws it).
  var EVENTS = ["message", "modem", "summary", "poll"];
  var handlers = {
    message: placeRow,
    modem: function (data) { fill("modems", data.html); },
    summary: function (data) {
      fill("alerts", data.alerts_html);
      fill("traffic", data.traffic_html);
    },
  };

  function connect() {
    var url = new URL(source.dataset.url, window.location.href);
    if (lastEventId !== null) {
      url.searchParams.set("last_event_id", lastEventId);
    }
    var stream = new EventSource(url.toString());
    stream.addEventListener("open", function () {
      window.clearTimeout(offlineTimer);
      offlineTimer = null;
      setLive(true);
    });
    EVENTS.forEach(function (name) {
      stream.addEventListener(name, function (event) {
        if (event.lastEventId) {
          lastEventId = event.lastEventId;
        }
        var data = JSON.parse(event.data);
        if (handlers[name]) {
          handlers[name](data);
        }
        document.dispatchEvent(new CustomEvent("panel:" + name, { detail: data }));
      });
    });
    stream.addEventListener("error", function () {
      // A stream ends every few minutes and EventSource reconnects by itself: say "offline" only when
      // that takes a while. A refused stream (signed out, server gone) is closed for good: start anew.
      if (offlineTimer === null) {
        offlineTimer = window.setTimeout(function () { setLive(false); }, 3000);
      }
      if (stream.readyState === EventSource.CLOSED) {
        window.setTimeout(connect, 5000);
      }
    });
  }

  connect();
})();
