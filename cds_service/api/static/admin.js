// Draws the console's charts from the JSON the server put in #chart-data (no inline script: the CSP forbids it).
(function () {
  "use strict";
  var source = document.getElementById("chart-data");
  if (!source || typeof Chart === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  Chart.defaults.animation = false; // the numbers, at once (and stable screenshots)
  Chart.defaults.font.family = "system-ui, sans-serif";

  new Chart(document.getElementById("chart-calls"), {
    type: "bar",
    data: {
      labels: data.labels,
      datasets: [
        { label: "answered", data: data.answered, backgroundColor: "#3b6ea5", stack: "calls" },
        { label: "refused (4xx)", data: data.refused, backgroundColor: "#c98a2b", stack: "calls" },
        { label: "FHIR data failed", data: data.fhirFailures, backgroundColor: "#b3261e", stack: "failures" }
      ]
    },
    options: { responsive: true, scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } }
  });

  new Chart(document.getElementById("chart-latency"), {
    type: "line",
    data: {
      labels: data.labels,
      datasets: [
        { label: "p50", data: data.p50, borderColor: "#3b6ea5", backgroundColor: "#3b6ea5", spanGaps: true },
        { label: "p95", data: data.p95, borderColor: "#b3261e", backgroundColor: "#b3261e", spanGaps: true }
      ]
    },
    options: { responsive: true, scales: { y: { beginAtZero: true, title: { display: true, text: "ms" } } } }
  });

  new Chart(document.getElementById("chart-criteria"), {
    type: "bar",
    data: {
      labels: data.criteria.map(function (c) { return c.label; }),
      datasets: [
        { label: "not met", data: data.criteria.map(function (c) { return c.notMet; }), backgroundColor: "#b3261e" },
        { label: "needs documentation", data: data.criteria.map(function (c) { return c.needsDocumentation; }), backgroundColor: "#c98a2b" }
      ]
    },
    options: { indexAxis: "y", responsive: true, maintainAspectRatio: false,
               scales: { x: { stacked: true, beginAtZero: true, ticks: { precision: 0 } }, y: { stacked: true } } }
  });
  document.body.setAttribute("data-charts", "drawn"); // the browser test waits for this
})();
