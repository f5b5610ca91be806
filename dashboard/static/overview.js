/* Device cards on the start page: status and routine progress pushed over /api/live. */
"use strict";
(function () {
  const cards = {}, data = RS.pageData();
  document.querySelectorAll(".device-card").forEach((c) => { cards[c.dataset.deviceId] = c; });
  const src = new EventSource("/api/live");
  src.addEventListener("status", (e) => {
    const s = JSON.parse(e.data), c = cards[s.device_id];
    if (!c) return;
    const pill = c.querySelector(".status");
    pill.textContent = s.status;
    pill.className = "pill status " + s.status;
  });
  src.addEventListener("telemetry", (e) => {
    const t = JSON.parse(e.data), c = cards[t.device_id];
    if (!c) return;
    c.querySelector(".activity").textContent =
      `${(t.protocol || "routine").replace(/-/g, " ")} · ${RS.mmss(t.elapsed_s)} · ${t.passes || 0} ${t.passes === 1 ? "pass" : "passes"}`;
    // a routine runs: the card never says "No sessions yet" meanwhile
    const last = c.querySelector(".last");
    if (last) last.textContent = `Running now: ${(data.titles || {})[t.protocol] || (t.protocol || "a routine").replace(/-/g, " ")}`;
    c.querySelector(".fill").style.width = `${Math.round(Math.max(0, Math.min(1, t.progress || 0)) * 100)}%`;
    c.dataset.session = "active";
  });
  /* The summary is stored: the session has ended (whatever telemetry was missed); the card
     says so with the stored numbers. */
  src.addEventListener("session", (e) => {
    const s = JSON.parse(e.data), c = cards[s.device_id];
    if (!c) return;
    const n = s.passes === null || s.passes === undefined ? "?" : s.passes;
    c.querySelector(".activity").textContent =
      `${(s.protocol || "routine").replace(/-/g, " ")} · ended${s.completed ? " (completed)" : ""} · ` +
      `${RS.mmss(s.duration_s)} · ${n} ${n === 1 ? "pass" : "passes"}`;
    c.querySelector(".fill").style.width = s.completed ? "100%" : "0%";
    const last = c.querySelector(".last");
    if (last) last.textContent = `Last: ${(s.protocol || "routine").replace(/-/g, " ")} · just now · ${RS.mmss(s.duration_s)}`;
    c.dataset.session = "ended";
  });
})();
