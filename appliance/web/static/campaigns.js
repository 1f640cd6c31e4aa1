// The campaign pages (groups and contacts, polls, contests, statistics): a question before deleting,
// more option rows in a poll's form, and a poll's results chart kept up to date.
// The server draws the chart (SVG, every label escaped there); this only swaps it in.
(function () {
  "use strict";

  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) {
        event.preventDefault();
      }
    });
  });

  // A poll form shows a few empty rows; the button adds one more, numbered as WTForms expects.
  document.querySelectorAll("[data-add-option]").forEach(function (button) {
    var rows = button.parentNode.querySelector("[data-option-rows]");
    button.hidden = false;
    button.addEventListener("click", function () {
      var last = rows.lastElementChild;
      var next = rows.children.length;
      var row = last.cloneNode(true);
      row.querySelectorAll("input").forEach(function (input) {
        input.name = input.name.replace(/-\d+-/, "-" + next + "-");
        input.id = input.id.replace(/-\d+-/, "-" + next + "-");
        input.value = "";
        var label = input.getAttribute("aria-label");
        if (label) {
          input.setAttribute("aria-label", label.replace(/\d+/, String(next + 1)));
        }
      });
      rows.appendChild(row);
      row.querySelector("input").focus();
    });
  });

  var chart = document.getElementById("poll-chart");
  if (!chart) {
    return;
  }
  var pollId = Number(chart.dataset.pollId);
  var status = document.getElementById("poll-live");
  // Without the event stream (not running, or refused), the chart is fetched this often instead.
  var RETRY_MS = 5000;
  var fetching = false;
  var again = false;

  function setLive(live) {
    if (status) {
      status.textContent = live ? status.dataset.textLive : status.dataset.textOffline;
      status.className = live ? "live" : "live offline";
    }
  }

  // One request at a time; events that come meanwhile make one more once it is done.
  function refresh() {
    if (fetching) {
      again = true;
      return;
    }
    fetching = true;
    fetch(chart.dataset.chartUrl, { cache: "no-store", headers: { Accept: "image/svg+xml" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.text();
      })
      .then(function (svg) {
        chart.innerHTML = svg;
      })
      .catch(function () {
        // The box is unreachable for a moment: the next event or reconnection fetches again.
      })
      .finally(function () {
        fetching = false;
        if (again) {
          again = false;
          refresh();
        }
      });
  }

  function connect() {
    var source = new EventSource(chart.dataset.eventsUrl);
    // Votes stored while the stream was away were announced to nobody: on every (re)connection
    // the chart is fetched anew.
    source.addEventListener("open", function () {
      setLive(true);
      refresh();
    });
    source.addEventListener("poll", function (event) {
      var data;
      try {
        data = JSON.parse(event.data);
      } catch (error) {
        return;
      }
      if (data && Number(data.poll_id) === pollId) {
        refresh();
      }
    });
    source.addEventListener("error", function () {
      setLive(false);
      // CONNECTING: the browser reconnects by itself. CLOSED: it gave up (no stream on this box,
      // an error answer); fetch the chart now and try the stream again in a while.
      if (source.readyState === EventSource.CLOSED) {
        source.close();
        refresh();
        window.setTimeout(connect, RETRY_MS);
      }
    });
  }

  connect();
})();
