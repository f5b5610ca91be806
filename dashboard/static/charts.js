/* rollsense charts: tiny hand-written SVG charts (line with target band, bars, histogram,
   timeline, semicircle gauge). No dependencies; everything scales with the viewBox. */
"use strict";
(function () {
  const NS = "http://www.w3.org/2000/svg";
  const C = {
    ink: "#1f2a37", muted: "#5b6673", grid: "#e6e9ee", accent: "#0f766e", accent2: "#2563eb",
    band: "rgba(16, 185, 129, 0.16)", bandEdge: "rgba(16, 150, 105, 0.55)", warn: "#dc2626", hold: "#8b5cf6",
  };

  function el(name, attrs, parent) {
    const n = document.createElementNS(NS, name);
    for (const k in attrs || {}) n.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(n);
    return n;
  }
  function text(parent, x, y, s, attrs) {
    const t = el("text", Object.assign({ x: x, y: y, fill: C.muted, "font-size": 11 }, attrs || {}), parent);
    t.textContent = s;
    return t;
  }
  function svgIn(container, w, h) {
    container.textContent = "";
    return el("svg", { viewBox: `0 0 ${w} ${h}`, width: "100%", preserveAspectRatio: "xMidYMid meet", role: "img" }, container);
  }
  function widthOf(container) {
    return Math.max(280, Math.round(container.clientWidth || 760));
  }
  /* Draw now and again (debounced) when the window is resized. */
  function responsive(draw) {
    draw();
    let timer = null;
    window.addEventListener("resize", () => { clearTimeout(timer); timer = setTimeout(draw, 150); });
  }
  /* Round ticks about `count` apart; never closer than minStep (1 for whole seconds or counts). */
  function niceTicks(lo, hi, count, minStep) {
    if (!(hi > lo)) hi = lo + 1;
    const raw = (hi - lo) / Math.max(1, count);
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = Math.max(minStep || 0, [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || 10 * mag);
    const ticks = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(+v.toFixed(10));
    return ticks;
  }
  /* Extend ticks by one step when the data goes past the last one, so the top has a label. */
  function roundUp(ticks, hi) {
    const last = ticks[ticks.length - 1];
    if (ticks.length > 1 && last < hi - 1e-9) ticks.push(+(last + (ticks[1] - ticks[0])).toFixed(10));
    return ticks;
  }
  /* Axis labels: one number of decimals for the whole axis, the fewest that tell every tick
     apart and show each exactly (0.05, 0.10, 0.15; never 0.1, 0.1, 0.1). */
  function tickLabels(ticks) {
    let d = 0;
    while (d < 6 && ticks.some((t, i) => Math.abs(+t.toFixed(d) - t) > 1e-9 ||
      (i && t.toFixed(d) === ticks[i - 1].toFixed(d)))) d++;
    return ticks.map((t) => t.toFixed(d));
  }
  /* The chart's text alternative (the svg is role="img"): its card's heading, or opts.label,
     and a short summary of the data. */
  function describe(svg, container, opts, summary) {
    const card = container.closest(".card");
    const h = card && card.querySelector("h2, h3");
    const title = opts.label || (h ? h.textContent.replace(/\s+/g, " ").trim() : "Chart");
    svg.setAttribute("aria-label", `${title}${opts.unit ? ` (${opts.unit})` : ""}: ${summary}`);
  }
  function short(v) {
    return v === null || v === undefined || !isFinite(v) ? "–" : String(+(+v).toFixed(Math.abs(v) >= 10 ? 0 : 2));
  }
  function fmt(v, digits) {
    if (v === null || v === undefined || !isFinite(v)) return "–";
    return Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(digits === undefined ? 1 : digits);
  }
  function mmss(s) {
    s = Math.max(0, Math.round(s || 0));
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  }
  function empty(container, msg) {
    container.textContent = "";
    const p = document.createElement("p");
    p.className = "muted empty-chart";
    p.textContent = msg || "No data stored for this chart.";
    container.appendChild(p);
  }

  /* Line chart over time. opts: {points: [[x, y|null]...], band: [lo, hi]|null, limit: y|null,
     scale: factor for display, unit, color, yMin, yMax, xLabel, height} */
  function lineChart(container, opts) {
    const pts = (opts.points || []).filter((p) => p[0] !== null && p[0] !== undefined);
    if (!pts.some((p) => p[1] !== null && p[1] !== undefined)) return empty(container, opts.emptyText);
    const W = widthOf(container), H = opts.height || 240, L = 48, R = 14, T = 22, B = 30;
    const k = opts.scale || 1;
    const svg = svgIn(container, W, H);
    const xs = pts.map((p) => p[0]);
    const ys = pts.filter((p) => p[1] !== null).map((p) => p[1] * k);
    // opts.xMin / xMax widen the x range (the history's trends: whole days)
    const x0 = Math.min(Math.min.apply(null, xs), opts.xMin !== undefined ? opts.xMin : Infinity);
    const x1 = Math.max(Math.max.apply(null, xs), x0 + 1, opts.xMax !== undefined ? opts.xMax : -Infinity);
    let y0 = opts.yMin !== undefined ? opts.yMin : Math.min(0, Math.min.apply(null, ys));
    let y1 = Math.max.apply(null, ys);
    if (opts.band) y1 = Math.max(y1, opts.band[1] * k * 1.15);
    if (opts.limit) y1 = Math.max(y1, opts.limit * k * 1.08);
    for (const b of opts.bands || []) y1 = Math.max(y1, b.band[1] * k * 1.15);
    for (const r of opts.refs || []) y1 = Math.max(y1, r.y * k * 1.4);  // a still threshold stays in view
    if (opts.yMax !== undefined) y1 = opts.yMax;
    if (!(y1 > y0)) y1 = y0 + 1;
    const yTicks = opts.yMax !== undefined ? niceTicks(y0, y1, 4) : roundUp(niceTicks(y0, y1, 4), y1);
    if (opts.yMax === undefined) y1 = yTicks[yTicks.length - 1];
    const X = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
    const Y = (y) => T + (1 - (y - y0) / (y1 - y0)) * (H - T - B);
    const yLabels = tickLabels(yTicks);
    yTicks.forEach((t, i) => {
      el("line", { x1: L, x2: W - R, y1: Y(t), y2: Y(t), stroke: C.grid, class: "gridline" }, svg);
      text(svg, L - 6, Y(t) + 4, yLabels[i], { "text-anchor": "end", class: "tick-y" });
    });
    // x is seconds (mm:ss) or a session number: whole steps, so no label repeats
    for (const t of niceTicks(x0, x1, Math.max(3, Math.floor((W - L - R) / 90)), 1)) {
      text(svg, X(t), H - 10, opts.xFormat ? opts.xFormat(t) : mmss(t), { "text-anchor": "middle", class: "tick-x" });
    }
    const shown = pts.filter((p) => p[1] !== null && p[1] !== undefined);
    const xl = (x) => (opts.xFormat ? opts.xFormat(x) || String(x) : mmss(x));
    describe(svg, container, opts, `${shown.length} ${shown.length === 1 ? "point" : "points"} from ` +
      `${xl(shown[0][0])} to ${xl(shown[shown.length - 1][0])}, ` +
      `lowest ${short(Math.min.apply(null, ys))}, highest ${short(Math.max.apply(null, ys))}` +
      (opts.band ? `, target ${short(opts.band[0] * k)} to ${short(opts.band[1] * k)}` : "") +
      (opts.limit ? `, too much above ${short(opts.limit * k)}` : ""));
    if (opts.unit) text(svg, L, 10, opts.unit, { "font-size": 11 });
    if (opts.band) {
      const top = Y(Math.min(opts.band[1] * k, y1)), bot = Y(Math.max(opts.band[0] * k, y0));
      el("rect", { x: L, y: top, width: W - L - R, height: Math.max(0, bot - top), fill: C.band, class: "band" }, svg);
      el("line", { x1: L, x2: W - R, y1: top, y2: top, stroke: C.bandEdge, "stroke-dasharray": "4 4" }, svg);
      el("line", { x1: L, x2: W - R, y1: bot, y2: bot, stroke: C.bandEdge, "stroke-dasharray": "4 4" }, svg);
      text(svg, W - R - 4, top - 4, "target", { "text-anchor": "end", fill: C.bandEdge, "font-size": 10 });
    }
    // more bands with their own labels (calf: "up: firm", "down: light"), each its colour
    for (const b of opts.bands || []) {
      const top = Y(Math.min(b.band[1] * k, y1)), bot = Y(Math.max(b.band[0] * k, y0));
      el("rect", { x: L, y: top, width: W - L - R, height: Math.max(0, bot - top), fill: b.fill, class: "band " + (b.cls || "") }, svg);
      el("line", { x1: L, x2: W - R, y1: top, y2: top, stroke: b.edge, "stroke-dasharray": "4 4" }, svg);
      el("line", { x1: L, x2: W - R, y1: bot, y2: bot, stroke: b.edge, "stroke-dasharray": "4 4" }, svg);
      text(svg, L + 4, top + 12, b.label, { fill: b.edge, "font-size": 10, class: "band-label" });
    }
    // reference lines (a hold's still threshold)
    for (const r of opts.refs || []) {
      el("line", { x1: L, x2: W - R, y1: Y(r.y * k), y2: Y(r.y * k), stroke: C.hold, "stroke-dasharray": "5 3", class: "ref " + (r.cls || "") }, svg);
      text(svg, W - R - 4, Y(r.y * k) - 4, r.label, { "text-anchor": "end", fill: C.hold, "font-size": 10 });
    }
    if (opts.limit) {
      el("line", { x1: L, x2: W - R, y1: Y(opts.limit * k), y2: Y(opts.limit * k), stroke: C.warn, "stroke-dasharray": "6 3", class: "limit" }, svg);
      text(svg, W - R - 4, Y(opts.limit * k) - 4, "too much", { "text-anchor": "end", fill: C.warn, "font-size": 10 });
    }
    let d = "", pen = false;
    for (const p of pts) {
      if (p[1] === null || p[1] === undefined) { pen = false; continue; }
      d += `${pen ? "L" : "M"}${X(p[0]).toFixed(1)},${Y(p[1] * k).toFixed(1)}`;
      pen = true;
    }
    el("path", { d: d, fill: "none", stroke: opts.color || C.accent, "stroke-width": 1.8, "stroke-linejoin": "round", class: "series" }, svg);
    // judged spans (a pass's mean force over the pass: green inside its band, amber outside)
    for (const s of opts.segments || []) {
      const seg = el("line", { x1: X(s.x0), x2: Math.max(X(s.x0) + 2, X(s.x1)), y1: Y(s.y * k), y2: Y(s.y * k), stroke: s.ok ? "#059669" : "#d97706",
        "stroke-width": 4, "stroke-linecap": "round", class: "segment " + (s.ok ? "ok" : "off") }, svg);
      if (s.title) el("title", {}, seg).textContent = s.title;
    }
    // several series (the history's trends: one per muscle), each its colour, dots and a legend
    let legendX = W - R;
    for (const ln of (opts.lines || []).slice().reverse()) {
      let dd = "", on = false;
      for (const p of ln.points) {
        if (p[1] === null || p[1] === undefined) { on = false; continue; }
        dd += `${on ? "L" : "M"}${X(p[0]).toFixed(1)},${Y(p[1] * k).toFixed(1)}`;
        on = true;
      }
      el("path", { d: dd, fill: "none", stroke: ln.color, "stroke-width": 1.8, "stroke-linejoin": "round", class: "series line" }, svg);
      for (const p of ln.points) {
        if (p[1] === null || p[1] === undefined) continue;
        const dot = el("circle", { cx: X(p[0]), cy: Y(p[1] * k), r: 3.5, fill: ln.color, class: "dot" }, svg);
        el("title", {}, dot).textContent = `${ln.label}, ${opts.xFormat ? opts.xFormat(p[0]) : mmss(p[0])}: ${fmt(p[1] * k, 0)}`;
      }
      const key = text(svg, legendX, 10, `● ${ln.label}`, { "text-anchor": "end", fill: ln.color, "font-size": 11, class: "legend" });
      legendX -= 14 + 6.5 * (ln.label.length + 2);
      key.dataset.label = ln.label;
    }
    if (opts.dots) {
      for (const p of pts) if (p[1] !== null) el("circle", { cx: X(p[0]), cy: Y(p[1] * k), r: 3.5, fill: opts.color || C.accent }, svg);
    }
    return svg;
  }

  /* Bars. opts: {labels: [...], values: [...], unit, color, height, highlight: index, valueDigits} */
  function barChart(container, opts) {
    const vals = opts.values || [];
    if (!vals.length) return empty(container, opts.emptyText);
    const W = widthOf(container), H = opts.height || 200, L = 40, R = 10, T = 22, B = 30;
    const svg = svgIn(container, W, H);
    const vmax = Math.max(opts.yMax || 0, opts.band ? opts.band[1] * 1.1 : 0, Math.max.apply(null, vals.map((v) => v || 0)), 1e-9);
    const ticks = roundUp(niceTicks(0, vmax, 4), vmax);
    const top = ticks[ticks.length - 1];
    const Y = (v) => T + (1 - v / top) * (H - T - B);
    const labels = tickLabels(ticks);
    ticks.forEach((t, i) => {
      el("line", { x1: L, x2: W - R, y1: Y(t), y2: Y(t), stroke: C.grid, class: "gridline" }, svg);
      text(svg, L - 6, Y(t) + 4, labels[i], { "text-anchor": "end", class: "tick-y" });
    });
    describe(svg, container, opts, vals.length <= 24
      ? vals.map((v, i) => `${opts.labels ? opts.labels[i] : i + 1}: ${short(v)}`).join(", ")
      : `${vals.length} bars, highest ${short(Math.max.apply(null, vals.map((v) => v || 0)))}`);
    if (opts.unit) text(svg, L, 10, opts.unit, { "font-size": 11 });
    const slot = (W - L - R) / vals.length, bw = Math.max(2, Math.min(48, slot * 0.7));
    const every = Math.ceil(vals.length / Math.max(2, Math.floor((W - L - R) / 44)));
    vals.forEach((v, i) => {
      const x = L + slot * i + (slot - bw) / 2;
      const h = Math.max(0, Y(0) - Y(v || 0));
      const color = opts.colors ? opts.colors[i] : (i === opts.highlight ? C.accent : opts.color || "#7fb8b2");
      el("rect", { x: x, y: Y(v || 0), width: bw, height: h, rx: Math.min(4, bw / 3), fill: color, class: "bar" }, svg);
      if (opts.labels && i % every === 0) text(svg, x + bw / 2, H - 10, opts.labels[i], { "text-anchor": "middle" });
    });
    if (opts.band) {  // a window (a hold's 30-60 s), shaded behind the bars
      const hiY = Y(Math.min(opts.band[1], top)), loY = Y(opts.band[0]);
      const r = el("rect", { x: L, y: hiY, width: W - L - R, height: Math.max(0, loY - hiY), fill: C.band, class: "band" }, svg);
      svg.insertBefore(r, svg.querySelector(".bar"));
      text(svg, W - R - 4, hiY - 4, opts.bandLabel || "target", { "text-anchor": "end", fill: C.bandEdge, "font-size": 10 });
    }
    if (opts.refLine !== undefined && opts.refLine !== null) {
      el("line", { x1: L, x2: W - R, y1: Y(opts.refLine), y2: Y(opts.refLine), stroke: C.bandEdge, "stroke-dasharray": "4 4" }, svg);
    }
    return svg;
  }

  /* Timeline of holds (spans) and passes (ticks). opts: {duration, holds: [{start_s, duration_s}], passes: [t]} */
  function timeline(container, opts) {
    const holds = opts.holds || [], passes = (opts.passes || []).filter((t) => t !== null);
    const cues = (opts.cues || []).filter((c) => c.t_s !== null && c.t_s !== undefined);
    const end = Math.max(opts.duration || 0, ...holds.map((h) => h.start_s + h.duration_s), ...passes, ...cues.map((c) => c.t_s), 1);
    if (!holds.length && !passes.length && !cues.length) return empty(container, "No holds or passes recorded.");
    const W = widthOf(container), H = cues.length ? 122 : 92, L = 56, R = 14;
    const svg = svgIn(container, W, H);
    const X = (t) => L + (Math.max(0, t) / end) * (W - L - R);
    text(svg, L - 6, 30, "passes", { "text-anchor": "end" });
    text(svg, L - 6, 60, "holds", { "text-anchor": "end" });
    el("line", { x1: L, x2: W - R, y1: 26, y2: 26, stroke: C.grid, class: "gridline" }, svg);
    el("rect", { x: L, y: 48, width: W - L - R, height: 18, rx: 4, fill: "#f1f3f6", class: "tl-bg" }, svg);
    for (const t of passes) el("line", { x1: X(t), x2: X(t), y1: 16, y2: 36, stroke: C.accent2, "stroke-width": 2, class: "pass-tick" }, svg);
    for (const h of holds) {
      const r = el("rect", { x: X(h.start_s), y: 48, width: Math.max(2, X(h.start_s + h.duration_s) - X(h.start_s)), height: 18, rx: 4, fill: C.hold, class: "hold" }, svg);
      el("title", {}, r).textContent = `hold ${fmt(h.duration_s)} s` + (h.force_n ? ` at ${fmt(h.force_n, 0)} N` : "");
    }
    if (cues.length) {  // what the coach said: a mark per cue (amber: a correction), its words on hover
      text(svg, L - 6, 90, "cues", { "text-anchor": "end" });
      el("line", { x1: L, x2: W - R, y1: 86, y2: 86, stroke: C.grid, class: "gridline" }, svg);
      for (const c of cues) {
        const m = el("circle", { cx: X(c.t_s), cy: 86, r: 5, fill: c.corrective ? "#d97706" : C.accent, class: "cue-mark" + (c.corrective ? " corrective" : "") }, svg);
        el("title", {}, m).textContent = `${mmss(c.t_s)} ${c.text}`;
      }
    }
    for (const t of niceTicks(0, end, 8, 1)) text(svg, X(t), H - 6, mmss(t), { "text-anchor": "middle", class: "tick-x" });
    describe(svg, container, opts, `${passes.length} ${passes.length === 1 ? "pass" : "passes"} and ` +
      `${holds.length} ${holds.length === 1 ? "hold" : "holds"} over ${mmss(end)}`);
    return svg;
  }

  /* Semicircle gauge; returns {set(value, band, limit, max)}. Values in display units.
     The thick arc fills up to the value (green in the band, amber outside, red over the
     limit); the thin outer ring marks the target band and the over-pressure zone. */
  function gauge(container, opts) {
    container.textContent = "";
    const W = 240, H = 148, cx = 120, cy = 126, r = 92;
    const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img", "aria-label": opts.label || "gauge" }, container);
    const arc = (a0, a1, rad) => {
      const p = (a) => [cx + rad * Math.cos(Math.PI * (1 - a)), cy - rad * Math.sin(Math.PI * (1 - a))];
      const [xa, ya] = p(a0), [xb, yb] = p(a1);
      return `M${xa.toFixed(2)},${ya.toFixed(2)} A${rad},${rad} 0 0 1 ${xb.toFixed(2)},${yb.toFixed(2)}`;
    };
    el("path", { d: arc(0, 1, r), stroke: "#e9edf1", "stroke-width": 16, fill: "none", "stroke-linecap": "round", class: "gauge-track" }, svg);
    const fill = el("path", { d: "", stroke: C.accent, "stroke-width": 16, fill: "none", "stroke-linecap": "round", class: "gauge-fill" }, svg);
    const band = el("path", { d: "", stroke: "#34d399", "stroke-width": 5, fill: "none", "stroke-linecap": "round", class: "gauge-band" }, svg);
    const over = el("path", { d: "", stroke: "#f87171", "stroke-width": 5, fill: "none", "stroke-linecap": "round", class: "gauge-over" }, svg);
    // a direction-dependent routine's other band (calf: down light while going up), thinner
    const other = el("path", { d: "", stroke: "#93c5fd", "stroke-width": 4, fill: "none", "stroke-linecap": "round", class: "gauge-band-other" }, svg);
    const value = text(svg, cx, cy - 22, "–", { "text-anchor": "middle", "font-size": 40, "font-weight": 700, fill: C.ink, class: "gauge-value" });
    text(svg, cx, cy - 2, opts.unit || "", { "text-anchor": "middle", "font-size": 13 });
    text(svg, cx - r, cy + 20, "0", { "text-anchor": "middle", "font-size": 11 });
    const hi = text(svg, cx + r, cy + 20, "", { "text-anchor": "middle", "font-size": 11 });
    const state = { max: opts.max || 1 };
    /* more: {verdict: "low"|"ok"|"high" (the coach's: it decides the colour when given),
       other: [lo, hi] a second band drawn thinner (the other direction's)} */
    function set(v, b, limit, max, more) {
      more = more || {};
      state.max = max || state.max;
      const frac = (x) => Math.max(0, Math.min(1, x / state.max));
      const R2 = r + 14;
      band.setAttribute("d", b ? arc(frac(b[0]), Math.max(frac(b[0]) + 0.005, frac(b[1])), R2) : "");
      const ob = more.other;
      other.setAttribute("d", ob ? arc(frac(ob[0]), Math.max(frac(ob[0]) + 0.005, frac(ob[1])), R2 + 7) : "");
      over.setAttribute("d", limit ? arc(frac(limit), 1, R2) : "");
      hi.textContent = fmt(state.max, 0);
      const known = v !== null && v !== undefined && isFinite(v);
      fill.setAttribute("d", known && frac(v) > 0.002 ? arc(0, frac(v), r) : "");
      let tone = "";
      if (known && limit && v > limit) tone = "over";
      else if (known && more.verdict) tone = more.verdict === "ok" ? "in" : "out";  // the coach decides
      else if (known && b && v >= b[0] && v <= b[1]) tone = "in";
      else if (known && b) tone = "out";
      fill.setAttribute("stroke", tone === "over" ? C.warn : tone === "out" ? "#f59e0b" : tone === "in" ? "#10b981" : C.accent);
      value.textContent = known ? fmt(v, opts.digits) : "–";
      value.setAttribute("class", "gauge-value " + tone);
      container.dataset.value = known ? String(v) : "";
      container.dataset.tone = tone;
      container.dataset.verdict = more.verdict || "";
    }
    set(null, null, null, opts.max);
    return { set: set };
  }

  function pageData() {
    const n = document.getElementById("page-data");
    return n ? JSON.parse(n.textContent) : {};
  }

  window.RS = { lineChart, barChart, timeline, gauge, pageData, responsive, mmss, fmt, empty, colors: C };
})();

/* The broker banner follows the broker while a page stays open (issue 19): /api/broker
   every 5 s (behind the login like the pages) gives the banner's words, or none. */
(function () {
  "use strict";
  const main = document.querySelector("main");
  if (!main || !window.fetch) return;
  async function check() {
    let j;
    try {
      j = await (await fetch("/api/broker", { cache: "no-store", redirect: "manual" })).json();
    } catch (e) {
      return;  // the dashboard itself did not answer: nothing to say about its broker
    }
    const text = j && j.problem;
    let banner = document.getElementById("broker-banner");
    if (!text) { if (banner) banner.remove(); return; }
    if (!banner) {
      banner = document.createElement("div");
      banner.id = "broker-banner";
      banner.className = "banner error";
      banner.setAttribute("role", "alert");
      main.prepend(banner);
    }
    if (banner.textContent !== text) banner.textContent = text;
  }
  setInterval(check, 5000);
})();

/* A Print button (data-print): the browser's print dialog, an A4 report (style.css @media print). */
(function () {
  document.querySelectorAll("[data-print]").forEach((b) => b.addEventListener("click", () => window.print()));
})();
