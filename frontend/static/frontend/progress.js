// Live training progress: polls each bar's JSON endpoint every 2 s and updates it in place.
// Progressive enhancement: without this script the page refreshes itself (noscript meta).
(function () {
  "use strict";
  var INTERVAL_MS = 2000;

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

  function poll(block) {
    var url = block.getAttribute("data-progress-url");
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        render(block, data);
        if (data.finished) {
          block.setAttribute("data-finished", "true");
          // Show the outcome (model version, reason) the server renders once the run is over.
          window.setTimeout(function () { window.location.reload(); }, 500);
        } else {
          window.setTimeout(function () { poll(block); }, INTERVAL_MS);
        }
      })
      .catch(function () { window.setTimeout(function () { poll(block); }, INTERVAL_MS * 2); });
  }

  document.querySelectorAll("[data-progress-url]").forEach(function (block) {
    if (block.getAttribute("data-finished") !== "true") {
      window.setTimeout(function () { poll(block); }, INTERVAL_MS);
    }
  });
})();
