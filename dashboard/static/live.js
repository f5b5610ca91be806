/* Live view of one device: values pushed by Server-Sent Events from /api/live/<id>. */
"use strict";
(function () {
  const data = RS.pageData();
  const $ = (id) => document.getElementById(id);
  const CUES = {
    slow_down: "Slow down a little", too_fast: "Slow down a little", speed_up: "A little faster",
    too_slow: "A little faster", ease_off: "Ease off — too much pressure", over_pressure: "Ease off — too much pressure",
    too_hard: "Ease off — too much pressure", press_more: "A little more pressure", more_pressure: "A little more pressure",
    too_light: "A little more pressure", good: "Nice and steady", in_band: "Nice and steady", on_target: "Nice and steady",
    steady: "Nice and steady", hold: "Hold still and breathe", hold_start: "Hold still and breathe", holding: "Hold still and breathe",
    hold_done: "Hold done — move to a new spot", hold_complete: "Hold done — move to a new spot",
    next_spot: "Move to a new spot", move_spot: "Move to a new spot", longer_passes: "Longer strokes",
    longer: "Longer strokes", shorter: "Shorter strokes", get_ready: "Get ready…", ready: "Get ready…", start: "Start rolling — ease in",
    ease_in: "Ease in gently", begin: "Start rolling — ease in", go: "Start rolling", switch: "Switch direction",
    turn: "Turn around", direction: "Switch direction", up_firm: "Up firm", down_light: "Down light",
    stepped_off: "Paused — get back on the tool", paused: "Paused", resume: "Welcome back — carry on",
    done: "Done — well rolled!", complete: "Done — well rolled!", completed: "Done — well rolled!",
    routine_completed: "Done — well rolled!", finished: "Done — well rolled!", stop: "Stopped", tick: null,
    on_pace: "Nice and steady", press_less: "A little lighter", keep_still: "Keep still — let it sink in",
    switch_direction: "Switch direction",
  };
  const TONE = {
    ease_off: "warn", over_pressure: "warn", too_hard: "warn", slow_down: "nudge", too_fast: "nudge",
    speed_up: "nudge", too_slow: "nudge", press_more: "nudge", more_pressure: "nudge", too_light: "nudge",
    done: "done", complete: "done", completed: "done", routine_completed: "done", finished: "done",
    stepped_off: "nudge", paused: "nudge", good: "good", in_band: "good", on_target: "good", steady: "good",
    hold: "good", holding: "good", hold_start: "good", on_pace: "good", press_less: "nudge", keep_still: "nudge",
    hold_done: "good", next_spot: "nudge",
  };
  function humanize(name) {
    const s = String(name).replace(/[_-]+/g, " ").trim();
    return s.charAt(0).toUpperCase() + s.slice(1);
  }

  const speed = RS.gauge($("speed-gauge"), { unit: "cm/s", label: "speed", max: 20 });
  const force = RS.gauge($("force-gauge"), { unit: "N", label: "pressure", max: 300, digits: 0 });
  let lastCue = null, lastSessionId = null, idleTimer = null;

  function setStatus(s) {
    const pill = $("status");
    pill.textContent = s;
    pill.className = "pill status " + s;
    document.body.dataset.status = s;
    if (s === "offline" && document.body.dataset.live !== "1") {
      $("cue").textContent = "Your tool is offline";
      $("cue-sub").textContent = "Switch on the Raspberry Pi on your tool; this page updates by itself.";
      $("cue-card").className = "card cue-card";
      lastCue = null;
    }
  }
  function setCue(name, sub) {
    if (name === null || name === undefined || name === "" || CUES[name] === null) return;
    if (name === lastCue && !sub) return;
    lastCue = name;
    const card = $("cue-card");
    $("cue").textContent = CUES[name] || humanize(name);
    $("cue").dataset.cue = name;
    card.className = "card cue-card " + (TONE[name] || "");
    if (sub !== undefined) $("cue-sub").textContent = sub;
  }

  function onTelemetry(t) {
    document.body.dataset.live = "1";
    document.body.dataset.session = "active";  // (the hub sends none of a stored session)
    if (t.session_id && t.session_id !== lastSessionId) {
      lastSessionId = t.session_id;
      $("routine").textContent = humanizeRoutine(t.protocol);
      $("stop-msg").textContent = "";  // a stop said of the session before no longer stands
      say(`${humanizeRoutine(t.protocol)} started`);
    }
    // a hold's speed band is "still": under the routine's still threshold
    const sb = t.speed_band_mps ? [t.speed_band_mps[0] * 100, t.speed_band_mps[1] * 100]
      : t.still_max_mps ? [0, t.still_max_mps * 100] : null;
    const speedMax = Math.max(t.still_max_mps && !t.speed_band_mps ? 5 : 20, sb ? sb[1] * 1.8 : 0, (t.speed_mps || 0) * 110);
    // the gauges colour from the coach's verdicts (speed_state, force_state) when the device
    // sends them, so they agree with the cue; from the band only when it does not
    speed.set(t.speed_mps === null || t.speed_mps === undefined ? null : t.speed_mps * 100, sb, null, niceMax(speedMax),
      { verdict: t.speed_state || null });
    const fb = t.force_band_n || null, fmax = t.force_max_n || null;
    const forceMax = Math.max(100, fmax ? fmax * 1.25 : 0, fb ? fb[1] * 1.5 : 0, (t.force_n || 0) * 1.1);
    // calf: the band of the way the stick goes now, and the other way's band beside it
    const other = t.direction === "up" ? t.force_band_down_n : t.direction === "down" ? t.force_band_up_n : null;
    force.set(t.force_n, fb, fmax, niceMax(forceMax), { verdict: t.force_state || null, other: other || null });
    $("force-bands").textContent = t.force_band_up_n && t.force_band_down_n
      ? `${t.direction === "down" ? "Going down" : t.direction === "up" ? "Going up" : "Up / down"} · up ${band(t.force_band_up_n)} N, down ${band(t.force_band_down_n)} N`
      : "";
    // the clock is the routine's own progress (done_s), the bar the same ratio: both rounded
    // down, so neither shows the target before it is met (as on the device's terminal)
    const done = t.done_s !== null && t.done_s !== undefined ? t.done_s : t.elapsed_s;
    $("elapsed").textContent = RS.mmss(Math.floor(done || 0));
    $("target").parentElement.hidden = $("remaining").parentElement.hidden = false;
    $("target").textContent = t.target_s ? RS.mmss(t.target_s) : "–";
    $("remaining").textContent = t.remaining_s !== null && t.remaining_s !== undefined ? RS.mmss(Math.ceil(t.remaining_s)) : "–";
    $("progress").style.width = `${Math.floor(Math.max(0, Math.min(1, t.progress || 0)) * 100 + 1e-9)}%`;
    $("passes").textContent = t.passes !== null && t.passes !== undefined ? String(Math.round(t.passes)) : "0";
    const hb = t.hold_band_s;  // a hold routine: the hold timer against its window
    $("hold").textContent = t.hold_s ? `${t.hold_s.toFixed(0)} s${hb ? ` of ${band(hb)} s` : ""}` : hb ? `0 s of ${band(hb)} s` : "–";
    $("spots").textContent = t.spots_target ? `${t.spots_done || 0} / ${t.spots_target}` : "–";
    $("distance").textContent = distance(t.distance_m);
    $("phase").textContent = `${(t.phase || "rolling").replace(/_/g, " ")}${t.contact === false ? " · off the tool" : ""}`;
    // the device reports its last cue; the start/ease-in words end when the coach goes active
    const cue = t.phase === "active" && (t.cue === "start" || t.cue === "ease_in") ? "on_pace" : t.cue;
    if (cue) setCue(cue, aim(t));
    setStatus("online");
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => { document.body.dataset.live = "0"; $("phase").textContent = "idle"; blankGauges(); }, 5000);
  }
  /* No live numbers: the gauges say "–", not the last reading as if it were now */
  function blankGauges() {
    speed.set(null, null, null);
    force.set(null, null, null);
    $("force-bands").textContent = "";
  }
  function distance(m) {  // as firmware/common/units.py distance(): m with one decimal, cm under 1 m
    if (m === null || m === undefined || !isFinite(m)) return "–";
    return Math.abs(m) < 0.995 ? `${Math.round(m * 100)} cm` : `${m.toFixed(1)} m`;
  }
  function humanizeRoutine(id) { return (data.titles || {})[id] || (id ? humanize(id) : "Routine"); }
  function aim(t) {
    const parts = [];
    // bands as firmware/common/units.py target_goal() words them: "3.8–15 cm/s", "180–330 N"
    const short = (v, d) => String(parseFloat(v.toFixed(d)));
    if (t.speed_band_mps) parts.push(`${short(t.speed_band_mps[0] * 100, 1)}–${short(t.speed_band_mps[1] * 100, 1)} cm/s`);
    if (t.force_band_n) parts.push(`${short(t.force_band_n[0], 0)}–${short(t.force_band_n[1], 0)} N`);
    return parts.length ? `Aim for ${parts.join(" at ")}` : "";
  }
  function band(b) { return `${Math.round(b[0])}–${Math.round(b[1])}`; }
  function niceMax(v) {
    const mag = Math.pow(10, Math.floor(Math.log10(v)));
    return [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10].map((m) => m * mag).find((x) => x >= v);
  }

  function addRecent(s) {
    const li = document.createElement("li");
    const a = document.createElement("a");
    a.href = `/session/${encodeURIComponent(s.session_id)}`;
    a.textContent = humanizeRoutine(s.protocol);
    const span = document.createElement("span");
    span.className = "muted";
    span.textContent = ` · just now · ${RS.mmss(s.duration_s)} · ${s.passes || 0} ${s.passes === 1 ? "pass" : "passes"}`;
    li.append(a, span);
    const list = $("recent");
    if (list.firstElementChild && list.firstElementChild.classList.contains("muted")) list.textContent = "";
    list.prepend(li);
  }

  const src = new EventSource(`/api/live/${encodeURIComponent(data.device_id)}`);
  src.addEventListener("telemetry", (e) => onTelemetry(JSON.parse(e.data)));
  src.addEventListener("status", (e) => setStatus(JSON.parse(e.data).status || "unknown"));
  src.addEventListener("event", (e) => {
    const ev = JSON.parse(e.data);
    if (ev.event_type === "cue" && ev.cue) setCue(ev.cue);
    else if (ev.event_type === "over_pressure") setCue("ease_off");
    else if (ev.event_type === "stepped_off") setCue("stepped_off");
    else if (ev.event_type === "routine_completed") setCue("done");
  });
  /* A session's summary is stored: it has ended, whatever live telemetry was missed (a
     broker outage); the page shows the stored record's numbers. */
  function onSession(s, fresh) {
    clearTimeout(idleTimer);
    document.body.dataset.live = "0";
    document.body.dataset.session = "ended";
    lastSessionId = s.session_id || lastSessionId;
    // the heading names what the page shows: the session that ended, not a wait for one
    // (the Start form below is the prompt for the next)
    $("routine").textContent = s.protocol ? `Last session: ${humanizeRoutine(s.protocol)}` : "Last session";
    $("start-msg").textContent = "";  // "Started — follow the cues" is over
    $("phase").textContent = s.completed ? "ended · completed" : "ended";
    const done = s.rolling_s !== null && s.rolling_s !== undefined ? s.rolling_s : s.duration_s;
    $("elapsed").textContent = RS.mmss(Math.floor(done || 0));
    // the stored record's time alone: "of –" and "– left" said nothing once it ended
    if ($("target").textContent === "–") $("target").parentElement.hidden = true;
    $("remaining").parentElement.hidden = true;
    if (s.completed) $("progress").style.width = "100%";
    if (s.passes !== null && s.passes !== undefined) $("passes").textContent = String(s.passes);
    $("distance").textContent = distance(s.distance_m);
    $("hold").textContent = "–";
    blankGauges();  // the stored record has no "now": a page opened afterwards shows "–" too
    setCue(s.completed ? "done" : "stop", "");
    const sub = $("cue-sub");
    sub.textContent = "Session saved. ";
    const a = document.createElement("a");
    a.href = `/session/${encodeURIComponent(s.session_id)}`;
    a.textContent = "See how it went →";
    a.id = "session-link";
    sub.appendChild(a);
    if (fresh) {
      addRecent(s);
      say(`${humanizeRoutine(s.protocol)} ${s.completed ? "completed" : "ended"}. Session saved.`);
    }
  }
  /* What a screen reader hears (a polite status): a session starting and ending, once each,
     not the cues and numbers that change ten times a second. */
  let saying = false;  // from the state the page opened with on: that is no news
  function say(words) { if (saying) $("live-note").textContent = words; }
  src.addEventListener("session", (e) => onSession(JSON.parse(e.data), true));
  src.onerror = () => { if (src.readyState === EventSource.CLOSED) setStatus("unknown"); };

  if (data.snapshot && data.snapshot.telemetry) onTelemetry(data.snapshot.telemetry);
  else if (data.snapshot && data.snapshot.session) onSession(data.snapshot.session, false);
  setStatus(data.status || "unknown");
  saying = true;

  // Start and Stop: the dashboard waits for the device's own answer and shows it (success
  // only when the device said ok; its refusal in its words; offline or silent devices too)
  async function command(form, msg, failed, okText) {
    msg.textContent = "Sending…";
    msg.className = "muted";
    let j;
    try {
      const r = await fetch(form.action, { method: "POST", body: new URLSearchParams(new FormData(form)) });
      if (r.redirected && new URL(r.url).pathname === "/login") {
        j = { ok: false, error: "your login has ended: reload the page and log in" };
      } else {
        j = await r.json().catch(() => ({ ok: false, error: `the dashboard refused the request (HTTP ${r.status})` }));
      }
    } catch (err) {
      j = { ok: false, error: "the dashboard did not answer" };
    }
    msg.textContent = j.ok ? okText(j.data || {}) : `${failed}: ${j.error}`;
    msg.className = j.ok ? "msg ok" : "msg error";
  }
  const startForm = $("start-form"), stopForm = $("stop-form");
  /* Start for a person (issue 22): the side shows for a routine done per side, the steps
     for a chosen programme (whose own steps then say the routine and the side). */
  const limbs = new Set(data.limb_routines || []), steps = data.program_steps || {};
  function showStartFields() {
    const prog = $("program") ? $("program").value : "";
    if (!$("side-field")) return;
    $("side-field").hidden = Boolean(prog) || !limbs.has($("protocol").value);
    if ($("side-field").hidden) $("side").value = "";
    $("protocol").disabled = Boolean(prog);
    $("protocol").hidden = Boolean(prog); // the programme's step says the routine
    $("step-field").hidden = !prog;
    const sel = $("program-step");
    if (sel.dataset.program !== prog) {
      sel.dataset.program = prog;
      sel.textContent = "";
      for (const [index, words] of steps[prog] || []) {
        const o = document.createElement("option");
        o.value = String(index);
        o.textContent = words;
        sel.append(o);
      }
    }
  }
  for (const id of ["protocol", "program"]) if ($(id)) $(id).addEventListener("change", showStartFields);
  showStartFields();
  startForm.addEventListener("submit", (e) => {
    e.preventDefault();
    command(startForm, $("start-msg"), "Not started", () => "Started — follow the cues on the tool.");
  });
  stopForm.addEventListener("submit", (e) => {
    e.preventDefault();
    command(stopForm, $("stop-msg"), "Not stopped",
      (d) => `Stopped ${humanizeRoutine(d.protocol)}: its session is saved as stopped.`);
  });
})();
