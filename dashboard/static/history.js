/* History charts: minutes per week, speed discipline and mean force trends. */
"use strict";
(function () {
  const d = RS.pageData();
  const $ = (id) => document.getElementById(id);
  const weeks = d.weekly_minutes || [];
  const label = (iso) => { const p = iso.split("-"); return `${+p[2]}/${+p[1]}`; };
  RS.barChart($("weekly-chart"), {
    labels: weeks.map((w) => label(w.week)), values: weeks.map((w) => w.minutes), unit: "min",
    highlight: weeks.length - 1, emptyText: "No sessions yet.",
  });
  const trends = d.trends || [];
  const disc = trends.map((t, i) => [i + 1, t.speed_in_band === null ? null : t.speed_in_band * 100]);
  RS.lineChart($("discipline-chart"), {
    points: disc, yMin: 0, yMax: 100, unit: "% in band", dots: true, height: 200,
    xFormat: (x) => (Number.isInteger(x) ? `#${x}` : ""), emptyText: "Speed discipline appears after a rolling session.",
  });
  RS.lineChart($("force-trend"), {
    points: trends.map((t, i) => [i + 1, t.force_mean_n]), yMin: 0, unit: "N", dots: true, height: 200,
    color: RS.colors.accent2, xFormat: (x) => (Number.isInteger(x) ? `#${x}` : ""), emptyText: "No force data yet.",
  });
})();
