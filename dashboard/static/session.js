/* Session page charts from the stored summary: its per-second series and pass list (an older
   summary without them: the stored telemetry and events, with a note saying what is missing). */
"use strict";
(function () {
  const d = RS.pageData();
  const $ = (id) => document.getElementById(id);
  const series = d.series || [];
  const passes = d.passes || [];
  const notes = d.notes || {};  // missing parts of the charts, in words (the page shows them too)
  const cov = d.coverage || { edges_m: [], seconds: [] };
  const span = cov.edges_m.length ? cov.edges_m[cov.edges_m.length - 1] : 0;
  const covLabel = (m) => (span < 0.2 ? (m * 100).toFixed(1) : String(Math.round(m * 100)));
  RS.responsive(() => {
    RS.lineChart($("speed-chart"), {
      points: series.map((s) => [s.t, s.speed]), band: d.speed_band_mps, scale: 100, unit: "cm/s",
      // a hold routine: its still threshold (under it the ball counts as still)
      refs: d.still_max_mps ? [{ y: d.still_max_mps, label: `still: under ${RS.fmt(d.still_max_mps * 100)} cm/s`, cls: "still" }] : [],
      color: RS.colors.accent, yMin: 0, emptyText: notes.series || "No speed data was stored for this session.",
    });
    RS.lineChart($("force-chart"), {
      points: series.map((s) => [s.t, s.force]), limit: d.force_max_n, unit: "N",
      // direction-dependent targets (calf): both bands, each pass's mean judged by its own
      band: d.force_bands_n ? null : d.force_band_n,
      bands: d.force_bands_n ? [
        { band: d.force_bands_n.up, label: "up: firm", fill: "rgba(16, 185, 129, 0.14)", edge: "rgba(16, 150, 105, 0.7)", cls: "band-up" },
        { band: d.force_bands_n.down, label: "down: light", fill: "rgba(59, 130, 246, 0.12)", edge: "rgba(37, 99, 235, 0.7)", cls: "band-down" },
      ] : [],
      segments: (d.pass_forces || []).map((p) => ({ x0: p.t0, x1: p.t1, y: p.force_n, ok: p.ok,
        title: `${p.direction}: ${Math.round(p.force_n)} N, ${p.ok ? "in" : "outside"} its band` })),
      color: RS.colors.accent2, yMin: 0,
      emptyText: notes.series || "No force data (the tool has no force sensor).",
    });
    RS.barChart($("pass-chart"), {
      labels: passes.map((_, i) => String(i + 1)), values: passes.map((p) => p.length_m * 100),
      unit: "cm per pass (dark: up, light: down)",
      colors: passes.map((p) => (p.direction < 0 ? "#93c5fd" : "#2f9e8f")), emptyText: notes.passes || "No passes in this session.",
    });
    RS.barChart($("coverage-chart"), {
      labels: cov.seconds.map((_, i) => covLabel(cov.edges_m[i])), values: cov.seconds,
      unit: "seconds at each position (cm along the muscle)", color: "#8fc9bf", emptyText: "No position data stored.",
    });
    RS.timeline($("timeline"), { duration: d.duration_s, holds: d.holds, passes: passes.map((p) => p.t_s),
      cues: (d.cues || []).filter((c) => c.cue !== "start").map((c) => ({ t_s: c.t_s, text: c.text || c.cue, corrective: !!c.corrective })) });
    if ($("hold-chart")) {  // a hold routine: each hold against the hold window
      const holds = (d.holds || []).filter((h) => h.duration_s !== null);
      RS.barChart($("hold-chart"), {
        labels: holds.map((_, i) => `#${i + 1}`), values: holds.map((h) => h.duration_s), unit: "seconds held",
        band: d.hold_band_s, bandLabel: d.hold_band_s ? `window ${d.hold_band_s[0]}–${d.hold_band_s[1]} s` : "", color: RS.colors.hold,
        emptyText: "No still hold of 5 s or more.",
      });
    }
  });
})();
