/* Session page charts from the stored telemetry, events and summary. */
"use strict";
(function () {
  const d = RS.pageData();
  const $ = (id) => document.getElementById(id);
  const series = d.series || [];
  const passes = d.passes || [];
  const cov = d.coverage || { edges_m: [], seconds: [] };
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
      labels: cov.seconds.map((_, i) => `${Math.round(cov.edges_m[i] * 100)}`), values: cov.seconds,
      unit: "seconds at each position (cm along the muscle)", color: "#8fc9bf", emptyText: "No position data stored.",
    });
    RS.timeline($("timeline"), { duration: d.duration_s, holds: d.holds, passes: passes.map((p) => p.t_s) });
  });
})();
