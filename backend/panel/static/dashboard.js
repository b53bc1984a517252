// The dashboard's charts: each <canvas data-chart="{type, labels, datasets}"> is drawn with Chart.js, on the
// first load and whenever HTMX swaps in another period. No inline script or style (the panel's CSP).
(function () {
  "use strict";

  var COLOURS = ["#1565c0", "#c62828", "#2e7d32"];

  function draw(root) {
    if (!root || !root.querySelectorAll || typeof window.Chart === "undefined") {
      return;
    }
    root.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      if (window.Chart.getChart(canvas)) {
        return;
      }
      var spec = JSON.parse(canvas.getAttribute("data-chart"));
      new window.Chart(canvas, {
        type: spec.type,
        data: {
          labels: spec.labels,
          datasets: spec.datasets.map(function (dataset, index) {
            return {
              label: dataset.label,
              data: dataset.data,
              backgroundColor: COLOURS[index % COLOURS.length],
              borderColor: COLOURS[index % COLOURS.length],
              pointRadius: spec.labels.length > 31 ? 0 : 2,
              tension: 0,
            };
          }),
        },
        options: {
          responsive: true,
          maintainAspectRatio: false,
          animation: false,
          interaction: { mode: "index", intersect: false },
          plugins: { legend: { display: spec.datasets.length > 1 } },
          scales: {
            x: { stacked: spec.type === "bar", ticks: { maxTicksLimit: 8 } },
            y: { stacked: spec.type === "bar", beginAtZero: true, ticks: { precision: 0 } },
          },
        },
      });
    });
  }

  function forget(root) {
    if (!root || !root.querySelectorAll || typeof window.Chart === "undefined") {
      return;
    }
    root.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var chart = window.Chart.getChart(canvas);
      if (chart) {
        chart.destroy();
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    draw(document);
  });
  document.addEventListener("htmx:beforeSwap", function (event) {
    forget(event.detail.target);
  });
  document.addEventListener("htmx:load", function (event) {
    draw(event.detail.elt);
  });
})();
