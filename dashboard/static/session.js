/* Session page charts from the stored telemetry, events and summary. */
"use strict";
(function () {
  const d = RS.pageData();
  const $ = (id) => document.getElementById(id);
  const series = d.series || [];
  const passes = d.passes || [];
  const cov = d.coverage || { edges_m: [], seconds: [] };
  const span = cov.edges_m.length ? cov.edges_m[cov.edges_m.length - 1] : 0;
  const covLabel = (m) => (span < 0.2 ? (m * 100).toFixed(1) : String(Math.round(m * 100)));
  RS.responsive(() => {
    RS.lineChart($("speed-chart"), {
      points: series.map((s) => [s.t, s.speed]), band: d.speed_band_mps, scale: 100, unit: "cm/s",
      color: RS.colors.accent, yMin: 0, emptyText: "No telemetry was stored for this session.",
    });
    RS.lineChart($("force-chart"), {
      points: series.map((s) => [s.t, s.force]), band: d.force_band_n, limit: d.force_max_n, unit: "N",
      color: RS.colors.accent2, yMin: 0,
      emptyText: "No force data (the tool has no force sensor, or no telemetry was stored).",
    });
    RS.barChart($("pass-chart"), {
      labels: passes.map((_, i) => String(i + 1)), values: passes.map((p) => p.length_m * 100),
      unit: "cm per pass (dark: up, light: down)",
      colors: passes.map((p) => (p.direction < 0 ? "#93c5fd" : "#2f9e8f")), emptyText: "No passes in this session.",
    });
    RS.barChart($("coverage-chart"), {
      labels: cov.seconds.map((_, i) => covLabel(cov.edges_m[i])), values: cov.seconds,
      unit: "seconds at each position (cm along the muscle)", color: "#8fc9bf", emptyText: "No position data stored.",
    });
    RS.timeline($("timeline"), { duration: d.duration_s, holds: d.holds, passes: passes.map((p) => p.t_s) });
  });
})();
