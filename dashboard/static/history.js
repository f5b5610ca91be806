/* History charts: minutes per week, speed discipline and mean force trends. */
"use strict";
(function () {
  const d = RS.pageData();
  const $ = (id) => document.getElementById(id);
  const weeks = d.weekly_minutes || [];
  const trends = d.trends || [];
  const label = (iso) => { const p = iso.split("-"); return `${+p[2]}/${+p[1]}`; };
  // trends by date (x: days in local time) and by muscle (a line each), never by session number
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const dayOf = (iso) => { const d = new Date(iso); return (d.getTime() - d.getTimezoneOffset() * 60000) / 86400000; };
  const dateLabel = (x) => { const d = new Date(Math.round(x) * 86400000); return `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]}`; };
  const PALETTE = [RS.colors.accent, RS.colors.accent2, "#b45309", "#7c3aed", "#be185d", "#0369a1"];
  const MUSCLES = [...new Set(trends.map((t) => t.muscle || "unknown"))];  // one colour per muscle on every chart
  function byMuscle(value) {
    const groups = {};
    for (const t of trends) {
      if (!t.started_at || isNaN(Date.parse(t.started_at))) continue;
      const m = t.muscle || "unknown";
      (groups[m] = groups[m] || []).push([dayOf(t.started_at), value(t)]);
    }
    return Object.keys(groups).filter((m) => groups[m].some((p) => p[1] !== null && p[1] !== undefined))
      .map((m) => ({ label: m, color: PALETTE[MUSCLES.indexOf(m) % PALETTE.length], points: groups[m] }));
  }
  function trendChart(node, value, opts) {
    const lines = byMuscle(value), points = [].concat(...lines.map((l) => l.points));
    const days = points.map((p) => p[0]), first = Math.floor(Math.min(...days));  // whole days: dates under the points
    RS.lineChart(node, Object.assign({ points: points, lines: lines, color: "none", yMin: 0, height: 200, xFormat: dateLabel,
      xMin: first, xMax: Math.max(Math.ceil(Math.max(...days)), first + 1) }, opts));
  }
  RS.responsive(() => {
    RS.barChart($("weekly-chart"), {
      labels: weeks.map((w) => label(w.week)), values: weeks.map((w) => w.minutes), unit: "minutes (week starting)",
      highlight: weeks.length - 1, emptyText: "No sessions yet.",
    });
    trendChart($("discipline-chart"), (t) => (t.speed_in_band === null ? null : t.speed_in_band * 100), {
      yMax: 100, unit: "% of passes in band, per session", emptyText: "Speed discipline appears after a rolling session.",
    });
    trendChart($("force-trend"), (t) => t.force_mean_n, { unit: "N, per session", emptyText: "No force data yet." });
  });
})();
