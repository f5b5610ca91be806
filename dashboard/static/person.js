/* One person's charts: minutes per week, and the soreness "before" ratings per muscle and side. */
"use strict";
(function () {
  const d = RS.pageData();
  const $ = (id) => document.getElementById(id);
  const weeks = d.weekly_minutes || [];
  const sore = d.soreness || [];
  const label = (iso) => { const p = iso.split("-"); return `${+p[2]}/${+p[1]}`; };
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const dayOf = (iso) => { const t = new Date(iso); return (t.getTime() - t.getTimezoneOffset() * 60000) / 86400000; };
  const dateLabel = (x) => { const t = new Date(Math.round(x) * 86400000); return `${t.getUTCDate()} ${MONTHS[t.getUTCMonth()]}`; };
  const PALETTE = [RS.colors.accent, RS.colors.accent2, "#b45309", "#7c3aed", "#be185d", "#0369a1"];
  RS.responsive(() => {
    RS.barChart($("weekly-chart"), {
      labels: weeks.map((w) => label(w.week)), values: weeks.map((w) => w.minutes), unit: "minutes (week starting)",
      highlight: weeks.length - 1, emptyText: "No sessions yet.",
    });
    const node = $("soreness-chart");
    if (!node) return;
    const lines = sore.map((s, i) => ({
      label: s.label, color: PALETTE[i % PALETTE.length],
      points: s.ratings.filter((r) => r.before !== null && r.started_at && !isNaN(Date.parse(r.started_at)))
        .map((r) => [dayOf(r.started_at), r.before]),
    })).filter((l) => l.points.length);
    const points = [].concat(...lines.map((l) => l.points));
    const days = points.map((p) => p[0]), first = Math.floor(Math.min(...days));
    RS.lineChart(node, { points: points, lines: lines, color: "none", yMin: 0, yMax: 10, height: 200,
      xFormat: dateLabel, xMin: first, xMax: Math.max(Math.ceil(Math.max(...days)), first + 1),
      unit: "soreness before, 0–10", emptyText: "No soreness rated before a session yet." });
  });
})();
