// tunasync mirror page (/mirror/{name}): one section per worker carrying the mirror, with its status,
// last error, run history (GET .../history: needs a read token when tokens are on), archive figures and
// pictures (GET /archive/history, public) and a link to the live log. The statuses come in the page.
"use strict";
(function () {
  const ZERO_TS = -62135596800;
  const TIMEOUT_MS = 8000;
  const data = JSON.parse(document.getElementById("mirror-data").textContent);
  const root = new URL("../", location.href);     // the manager's base, also behind a prefix
  const api = (path) => new URL(path, root).toString();
  const banner = document.getElementById("banner");

  async function getJSON(path) {
    const ctl = new AbortController();
    const t = setTimeout(() => ctl.abort(), TIMEOUT_MS);
    try {
      const resp = await fetch(api(path), { signal: ctl.signal, cache: "no-store" });
      if (!resp.ok) {
        const err = new Error(`${path}: HTTP ${resp.status}`);
        err.status = resp.status;
        throw err;
      }
      return await resp.json();
    } finally { clearTimeout(t); }
  }

  function fact(dl, name, value, title) {
    if (value === "" || value == null) return;
    const dt = document.createElement("dt"), dd = document.createElement("dd");
    dt.textContent = name;
    dd.textContent = value;
    if (title) dd.title = title;
    dl.append(dt, dd);
  }

  function when(ts) { return ts === ZERO_TS || ts == null ? "never" : new Date(ts * 1000).toLocaleString(); }

  function runsTable(runs) {
    const t = document.createElement("table");
    t.className = "runs-table";
    const head = t.createTHead().insertRow();
    for (const h of ["Started", "Duration", "Outcome", "Size", "Error"]) {
      const th = document.createElement("th"); th.textContent = h; head.appendChild(th);
    }
    const body = t.createTBody();
    for (const r of runs.slice(0, 30)) {
      const tr = body.insertRow();
      tr.className = `st-${r.status}`;
      const secs = Math.max(0, (Date.parse(r.ended) - Date.parse(r.started)) / 1000);
      const badge = document.createElement("span");
      badge.className = "badge"; badge.textContent = r.status;
      tr.insertCell().textContent = new Date(r.started).toLocaleString();
      tr.insertCell().textContent = Charts.fmtDuration(secs);
      tr.insertCell().appendChild(badge);
      tr.insertCell().textContent = r.size || "";
      const e = tr.insertCell(); e.className = "run-err"; e.textContent = r.error_msg || "";
    }
    return t;
  }

  function archiveFigures(box, fig) {
    const dl = document.createElement("dl");
    dl.className = "facts";
    const st = fig.states || {};
    const sum = (names) => names.reduce((a, n) => [a[0] + ((st[n] || {}).files || 0), a[1] + ((st[n] || {}).bytes || 0)], [0, 0]);
    const pair = (p) => `${p[0].toLocaleString()} files · ${Charts.fmtBytes(p[1])}`;
    fact(dl, "On local disk, not yet stored", pair(sum(["local", "hashed", "storing"])));
    fact(dl, "Stored, still on disk", pair(sum(["stored", "cached"])));
    fact(dl, "Evicted (on Filecoin only)", pair(sum(["evicted"])));
    if (fig.evictable_now) fact(dl, "Evictable now", pair([fig.evictable_now.files, fig.evictable_now.bytes]));
    if (fig.next_eviction) fact(dl, "Next eviction", fig.next_eviction);
    if (fig.copies_wanted) fact(dl, "Copies wanted", String(fig.copies_wanted));
    if (fig.keep_years != null) fact(dl, "Kept on disk", `${fig.keep_years} year(s)`);
    const lr = fig.last_run || {};
    if (lr.error) fact(dl, "Last archive run", `failed: ${lr.error}`);
    if (lr.store_problem) fact(dl, "Storing gave up", lr.store_problem);
    if (lr.deal_failures) fact(dl, "Failed deals (last run)", String(lr.deal_failures));
    box.replaceChildren(dl);
  }

  async function section(w, archive, points) {
    const node = document.getElementById("worker-tpl").content.firstElementChild.cloneNode(true);
    node.dataset.worker = w.worker;
    node.classList.add(`st-${w.status}`);
    node.querySelector(".worker-name").textContent = `on worker ${w.worker}`;
    const badge = document.createElement("span");
    badge.className = "badge"; badge.textContent = w.status;
    node.querySelector(".badge-box").appendChild(badge);
    const dl = node.querySelector(".facts");
    fact(dl, "Last success", when(w.last_update_ts));
    fact(dl, "Last ended", when(w.last_ended_ts));
    fact(dl, "Next run", w.next_schedule_ts === ZERO_TS ? "not scheduled" : when(w.next_schedule_ts));
    fact(dl, "Size", w.size && w.size !== "unknown" ? w.size : "");
    fact(dl, "Upstream", w.upstream);
    const logLink = document.createElement("a");
    logLink.href = api(`workers/${encodeURIComponent(w.worker)}/jobs/${encodeURIComponent(data.name)}/log?follow=1`);
    logLink.textContent = "live log";
    logLink.className = "log-link";
    const dt = document.createElement("dt"), dd = document.createElement("dd");
    dt.textContent = "Log"; dd.appendChild(logLink); dl.append(dt, dd);
    if (w.error_msg) {
      const p = node.querySelector(".last-error");
      p.hidden = false; p.textContent = `Last error: ${w.error_msg}`;
    }
    const runsBox = node.querySelector(".runs");
    try {
      const runs = await getJSON(`workers/${encodeURIComponent(w.worker)}/jobs/${encodeURIComponent(data.name)}/history?limit=30`);
      if (!runs.length) runsBox.querySelector(".runs-note").textContent = "no finished runs yet";
      else runsBox.replaceChildren(Charts.historyStrip(runs, 30, 300, 40), runsTable(runs));
    } catch (e) {
      runsBox.querySelector(".runs-note").textContent = e.status === 401 || e.status === 403
        ? "Run history needs a read token (tokens are on)." : `Run history unavailable: ${e.message}`;
    }
    const fig = archive.find((a) => a.worker === w.worker);
    if (fig) {
      node.querySelector(".archive-part").hidden = false;
      archiveFigures(node.querySelector(".archive-figures"), fig);
      const pts = (points.find((p) => p.worker === w.worker) || {}).points || [];
      node.querySelector(".bytes").appendChild(Charts.bytesChart(pts, 520, 160, true));
      node.querySelector(".copies").appendChild(Charts.copiesHistogram(fig.copies || {}, fig.copies_wanted, 220, 120, true));
    }
    return node;
  }

  async function main() {
    let archive = [], points = [];
    const [a, p] = await Promise.allSettled([getJSON("archive"),
      getJSON(`archive/history?mirror=${encodeURIComponent(data.name)}&step=6`)]);
    if (a.status === "fulfilled") archive = (a.value || []).filter((x) => x.name === data.name);
    if (p.status === "fulfilled") points = p.value || [];
    if (a.status === "rejected") { banner.hidden = false; banner.textContent = `Archive figures unavailable: ${a.reason.message}`; }
    const nodes = await Promise.all(data.workers.map((w) => section(w, archive, points)));
    document.getElementById("workers").replaceChildren(...nodes);
    document.body.dataset.state = "ok";
  }
  main();
})();
