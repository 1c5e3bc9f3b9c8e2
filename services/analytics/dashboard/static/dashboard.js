// The campaign page: plots its charts, then keeps them and every figure current from the
// server's event stream, in place, without a reload.
"use strict";

const plotConfig = { displaylogo: false, responsive: true };

function plot(container, figures) {
  for (const div of container.querySelectorAll("[data-chart]")) {
    const figure = figures[div.dataset.figure];
    if (figure) {
      Plotly.react(div, figure.data, figure.layout, plotConfig);
    }
  }
}

// New sections replace the old, but a chart already drawn is carried over and redrawn
// by Plotly.react, which updates it in place rather than building it anew.
function update(report, message) {
  const next = document.createElement("template");
  next.innerHTML = message.html;
  for (const placeholder of next.content.querySelectorAll("[data-chart]")) {
    const name = CSS.escape(placeholder.dataset.figure);
    const drawn = report.querySelector(`[data-chart][data-figure="${name}"]`);
    if (drawn) {
      placeholder.replaceWith(drawn);
    }
  }
  report.replaceChildren(next.content);
  plot(report, message.charts);
}

function follow(report) {
  const status = document.getElementById("live");
  const source = new EventSource(report.dataset.events);
  source.addEventListener("open", () => {
    status.dataset.state = "live";
    status.textContent = "live";
  });
  source.addEventListener("error", () => {
    status.dataset.state = "reconnecting";
    status.textContent = "reconnecting";
  });
  source.addEventListener("report", (event) => update(report, JSON.parse(event.data)));
}

document.addEventListener("DOMContentLoaded", () => {
  const report = document.getElementById("report");
  if (report) {
    plot(report, JSON.parse(document.getElementById("charts").textContent));
    follow(report);
  }
});
