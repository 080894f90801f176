// Live training progress: polls each bar's JSON endpoint every 2 s and updates it in place.
// Progressive enhancement: without this script the page refreshes itself (noscript meta).
(function () {
  "use strict";
  var INTERVAL_MS = 2000;
  var MAX_DELAY_MS = 30000;

  function text(value, fallback) {
    return value === null || value === undefined || value === "" ? fallback : String(value);
  }

  function render(block, data) {
    var bar = block.querySelector("progress");
    if (bar) { bar.value = data.percent; bar.textContent = data.percent + "%"; }
    var fields = {
      status_display: data.status_display, percent: data.percent, phase: text(data.phase, "—"),
      epoch: text(data.epoch, "—"), epochs: text(data.epochs, "—"), step: text(data.step, "0"),
      total_steps: text(data.total_steps || null, "—"), loss: text(data.loss, "—"),
      eta: data.eta_s === null || data.eta_s === undefined ? "—" : Math.round(data.eta_s) + " s"
    };
    Object.keys(fields).forEach(function (name) {
      block.querySelectorAll('[data-field="' + name + '"]').forEach(function (el) { el.textContent = fields[name]; });
    });
  }

  // Elsewhere on the page (the run page's heading badge) the run's status is shown too.
  function renderStatus(data) {
    document.querySelectorAll('[data-run-status="' + data.id + '"]').forEach(function (el) {
      el.textContent = data.status_display;
      el.className = "badge run-" + data.status;
    });
  }

  // A failed answer (the server restarting, a proxy timing out) or one this page cannot show is
  // said and retried, waiting longer each time up to MAX_DELAY_MS; the first good answer clears
  // the message. Nothing stops the polling but a finished run.
  function trouble(block, message, delay) {
    var note = block.querySelector(".progress-lost");
    if (!note) {
      note = document.createElement("p");
      note.className = "progress-lost message message-error";
      note.setAttribute("role", "status");
      block.appendChild(note);
    }
    note.textContent = message + "; retrying in " + Math.round(delay / 1000) + " s.";
    note.hidden = false;
  }

  function poll(block, failures) {
    var url = block.getAttribute("data-progress-url");
    function retry(message) {
      var delay = Math.min(INTERVAL_MS * Math.pow(2, failures + 1), MAX_DELAY_MS);
      trouble(block, message, delay);
      window.setTimeout(function () { poll(block, failures + 1); }, delay);
    }
    function shown(data) {
      try {
        render(block, data);
        renderStatus(data);
      } catch (error) {
        return false;
      }
      var note = block.querySelector(".progress-lost");
      if (note) { note.hidden = true; }
      return true;
    }
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (data) {
        var ok = shown(data);
        if (data && data.finished) {
          block.setAttribute("data-finished", "true");
          // Show the outcome (model version, reason) the server renders once the run is over.
          window.setTimeout(function () { window.location.reload(); }, 500);
        } else if (ok) {
          window.setTimeout(function () { poll(block, 0); }, INTERVAL_MS);
        } else {
          retry("Could not show the latest progress");
        }
      }, function () { retry("Lost contact with the server"); });
  }

  document.querySelectorAll("[data-progress-url]").forEach(function (block) {
    if (block.getAttribute("data-finished") !== "true") {
      window.setTimeout(function () { poll(block, 0); }, INTERVAL_MS);
    }
  });
})();
