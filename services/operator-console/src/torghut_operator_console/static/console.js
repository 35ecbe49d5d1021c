// Draws each account's P&L chart from the JSON the account panel carries, whenever the panel is
// (re)placed: on load and after every live update the event stream brings.
(function () {
  "use strict";
  var charts = {};

  function draw(root) {
    var data = root.querySelector("script.pnl-data");
    if (!data || typeof uPlot === "undefined") return;
    var series = JSON.parse(data.textContent || "{}");
    root.querySelectorAll(".pnl-chart").forEach(function (el) {
      var s = series[el.dataset.account];
      if (charts[el.dataset.account]) { charts[el.dataset.account].destroy(); }
      if (!s || s.t.length === 0) { el.textContent = "No fills yet: the chart starts with the first one."; return; }
      el.textContent = "";
      charts[el.dataset.account] = new uPlot({
        width: Math.max(320, el.clientWidth - 8), height: 220,
        scales: { x: { time: true } },
        series: [{}, { label: "total P&L", stroke: "#1f5fbf", width: 2 },
                 { label: "realized", stroke: "#1b7f3b", width: 1, dash: [4, 3] }],
        axes: [{}, { size: 70 }]
      }, [s.t, s.total, s.realized], el);
    });
  }

  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  document.addEventListener("htmx:afterSettle", function (e) { draw(e.target); });
})();
