/* History charts: minutes per week, speed discipline and mean force trends. */
"use strict";
(function () {
  const d = RS.pageData();
  const $ = (id) => document.getElementById(id);
  const weeks = d.weekly_minutes || [];
  const trends = d.trends || [];
  const label = (iso) => { const p = iso.split("-"); return `${+p[2]}/${+p[1]}`; };
  const nth = (x) => (Number.isInteger(x) ? `#${x}` : "");
  RS.responsive(() => {
    RS.barChart($("weekly-chart"), {
      labels: weeks.map((w) => label(w.week)), values: weeks.map((w) => w.minutes), unit: "minutes (week starting)",
      highlight: weeks.length - 1, emptyText: "No sessions yet.",
    });
    RS.lineChart($("discipline-chart"), {
      points: trends.map((t, i) => [i + 1, t.speed_in_band === null ? null : t.speed_in_band * 100]),
      yMin: 0, yMax: 100, unit: "% of passes in band, per session", dots: true, height: 200, xFormat: nth,
      emptyText: "Speed discipline appears after a rolling session.",
    });
    RS.lineChart($("force-trend"), {
      points: trends.map((t, i) => [i + 1, t.force_mean_n]), yMin: 0, unit: "N, per session", dots: true,
      height: 200, color: RS.colors.accent2, xFormat: nth, emptyText: "No force data yet.",
    });
  });
})();
