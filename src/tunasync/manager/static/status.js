// tunasync status page: reads GET /jobs (and GET /archive when it has data) and renders one row per
// mirror; GET /history (run history, needs a read token when tokens are on) and GET /archive/history
// add the pictures. Plain browser JavaScript, no build step, no external resources.
"use strict";
(function () {
  const REFRESH_MS = 10000;         // auto-refresh period while the manager answers
  const RETRY_MAX_MS = 30000;       // back-off ceiling while it does not
  const TIMEOUT_MS = 8000;
  const ZERO_TS = -62135596800;     // Go's zero time: "never" / "not scheduled"
  const STATUS_ORDER = ["failed", "syncing", "pre-syncing", "paused", "none", "success", "disabled"];
  const UNITS = { "": 1, K: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };

  const params = new URLSearchParams(location.search);
  const base = new URL(params.get("api") || ".", location.href);
  const $ = (sel) => document.querySelector(sel);
  const table = $("#mirrors"), tbody = table.tBodies[0], banner = $("#banner");
  const filterBox = $("#filter"), auto = $("#auto"), updated = $("#updated");

  let rows = [];                    // merged data of the last good load
  let history = null;               // name -> runs (newest first), null when /history is not readable
  let points = new Map();           // name -> archive points (oldest first)
  let wanted = new Map();           // name -> copies wanted (n)
  let picturesAt = 0;               // when history and points were last fetched (ms)
  const PICTURES_MS = 60000;        // they change once a run: fetched at most once a minute
  let sortKey = "name", sortDir = 1;
  let timer = null, countdown = null, failures = 0, lastOk = null;

  function apiUrl(path) { return new URL(path, base).toString(); }

  async function getJSON(path) {
    const ctl = new AbortController();
    const t = setTimeout(() => ctl.abort(), TIMEOUT_MS);
    try {
      const resp = await fetch(apiUrl(path), { signal: ctl.signal, cache: "no-store" });
      if (!resp.ok) throw new Error(`${path}: HTTP ${resp.status}`);
      return await resp.json();
    } catch (e) {
      if (e.name === "AbortError") throw new Error(`${path}: no answer within ${TIMEOUT_MS / 1000} s`);
      throw e;
    } finally { clearTimeout(t); }
  }

  function parseSize(text) {
    const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGTPE]?)(?:i?B)?\s*$/i.exec(text || "");
    return m ? parseFloat(m[1]) * UNITS[m[2].toUpperCase()] : -1;
  }

  function fmtBytes(n) {
    if (!n) return "0 B";
    const u = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let i = 0;
    while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
    return (i ? n.toFixed(n < 10 ? 2 : n < 100 ? 1 : 0) : String(n)) + " " + u[i];
  }

  function fmtRelative(ts, now) {
    if (ts === ZERO_TS || ts == null) return "";
    const d = Math.round(ts - now), a = Math.abs(d);
    let text;
    if (a < 60) text = `${a} s`;
    else if (a < 3600) text = `${Math.round(a / 60)} min`;
    else if (a < 86400 * 2) text = `${(a / 3600).toFixed(a < 36000 ? 1 : 0)} h`;
    else text = `${Math.round(a / 86400)} d`;
    return d < 0 ? `${text} ago` : `in ${text}`;
  }

  // Archive figures: local = not yet archived (local, hashed, storing), stored = archived and on disk
  // (stored, cached), evicted = archived only. Accepts {states|counts: {s: {files, bytes} | [n, b]}}.
  function archiveOf(entries) {
    const out = new Map();
    for (const e of entries || []) {
      const acc = out.get(e.name) || { local: [0, 0], stored: [0, 0], evicted: [0, 0], copies: {} };
      const states = e.states || e.counts || {};
      for (const [s, v] of Object.entries(states)) {
        const pair = Array.isArray(v) ? v : [v.files || 0, v.bytes || 0];
        const group = s === "evicted" ? "evicted" : (s === "stored" || s === "cached") ? "stored" : "local";
        acc[group][0] += Number(pair[0]) || 0;
        acc[group][1] += Number(pair[1]) || 0;
      }
      if (e.copies_wanted) wanted.set(e.name, Math.max(wanted.get(e.name) || 0, e.copies_wanted));
      const lr = e.last_run || {};
      if (lr.store_problem || lr.error) acc.problem = lr.store_problem || `archive run failed: ${lr.error}`;
      for (const [k, v] of Object.entries(e.copies || e.copies_histogram || {})) {
        acc.copies[k] = (acc.copies[k] || 0) + (Number(v) || 0);
      }
      out.set(e.name, acc);
    }
    return out;
  }

  function copiesSummary(hist) {
    const ks = Object.keys(hist).map(Number).filter((k) => hist[k] > 0).sort((a, b) => a - b);
    if (!ks.length) return { text: "", min: -1, title: "" };
    const pieces = ks.reduce((s, k) => s + hist[k], 0);
    const text = ks.length === 1 ? `${ks[0]}` : `${ks[0]}–${ks[ks.length - 1]}`;
    const title = `${pieces} piece(s): ` + ks.map((k) => `${hist[k]} with ${k} cop${k === 1 ? "y" : "ies"}`).join(", ");
    return { text, min: ks[0], title };
  }

  function merge(jobs, archive) {
    return jobs.map((j, i) => {
      const a = archive.get(j.name);
      const c = a ? copiesSummary(a.copies) : null;
      const runs = history ? history.get(j.name) || [] : null;
      return Object.assign({}, j, {
        _i: i, size_bytes: parseSize(j.size), archive: a || null, copies: c, runs,
        h_failed: runs ? runs.slice(0, 30).filter((r) => r.status !== "success").length : -1,
        a_trend: (points.get(j.name) || []).reduce((_, p) => p.filecoin_bytes, -1),
        a_local: a ? a.local[1] : -1, a_stored: a ? a.stored[1] : -1, a_evicted: a ? a.evicted[1] : -1,
        a_copies: c ? c.min : -1,
      });
    });
  }

  function matches(r, tokens) {
    const hay = `${r.name} ${r.status} ${r.upstream} ${r.size}`.toLowerCase();
    return tokens.every((t) => hay.includes(t));
  }

  function compare(a, b) {
    let x = a[sortKey], y = b[sortKey];
    if (sortKey === "status") { x = STATUS_ORDER.indexOf(x); y = STATUS_ORDER.indexOf(y); }
    if (typeof x === "string") { x = x.toLowerCase(); y = String(y).toLowerCase(); }
    if (x < y) return -sortDir;
    if (x > y) return sortDir;
    return a.name.localeCompare(b.name) || a._i - b._i;
  }

  function cell(tr, cls, label, text, title) {
    const td = document.createElement("td");
    td.className = cls;
    td.dataset.label = label;
    td.textContent = text;
    if (title) td.title = title;
    tr.appendChild(td);
    return td;
  }

  function timeCell(tr, cls, label, ts, now) {
    const abs = ts === ZERO_TS ? "" : new Date(ts * 1000).toLocaleString();
    return cell(tr, `num ${cls}`, label, fmtRelative(ts, now) || "—", abs);
  }

  function pairText(p) { return p[0] ? `${p[0].toLocaleString()} · ${fmtBytes(p[1])}` : "—"; }

  function render() {
    const now = Date.now() / 1000;
    const tokens = filterBox.value.toLowerCase().split(/\s+/).filter(Boolean);
    const shown = rows.filter((r) => matches(r, tokens)).sort(compare);
    const hasArchive = rows.some((r) => r.archive);
    table.classList.toggle("with-archive", hasArchive);
    table.classList.toggle("with-history", rows.some((r) => r.runs && r.runs.length));
    const frag = document.createDocumentFragment();
    for (const r of shown) {
      const tr = document.createElement("tr");
      tr.className = `st-${r.status}`;
      tr.dataset.mirror = r.name;
      tr.dataset.status = r.status;
      const nm = cell(tr, "name", "Mirror", "");
      const link = document.createElement("a");
      link.href = apiUrl("mirror/" + encodeURIComponent(r.name));
      link.textContent = r.name;
      nm.append(link, r.is_master ? "" : " (slave)");
      const st = cell(tr, "status", "Status", "");
      const badge = document.createElement("span");
      badge.className = "badge";
      badge.textContent = r.status;
      st.appendChild(badge);
      timeCell(tr, "last-update", "Last success", r.last_update_ts, now);
      timeCell(tr, "last-ended", "Last ended", r.last_ended_ts, now);
      timeCell(tr, "next-run", "Next run", r.next_schedule_ts, now);
      cell(tr, "num size", "Size", r.size && r.size !== "unknown" ? r.size : "—");
      cell(tr, "upstream", "Upstream", r.upstream || "");
      const hc = cell(tr, "history", "History", "");
      if (r.runs && r.runs.length) hc.appendChild(Charts.historyStrip(r.runs));
      const a = r.archive;
      cell(tr, "num archive a-local", "Local", a ? pairText(a.local) : "");
      const sc = cell(tr, "num archive a-stored", "Stored", a ? pairText(a.stored) : "");
      if (a && a.problem) {
        const warn = document.createElement("span");
        warn.className = "err store-problem";
        warn.textContent = a.problem.startsWith("archive run failed") ? "archive run failed" : "storing gave up";
        warn.title = a.problem;
        sc.appendChild(warn);
      }
      cell(tr, "num archive a-evicted", "Evicted", a ? pairText(a.evicted) : "");
      const cc = cell(tr, "num archive a-copies", "Copies", r.copies ? r.copies.text : "", r.copies ? r.copies.title : "");
      if (a && Object.keys(a.copies).length) cc.appendChild(Charts.copiesHistogram(a.copies, wanted.get(r.name)));
      const pc = cell(tr, "archive a-trend", "Disk / Filecoin", "");
      if (a && points.get(r.name)) pc.appendChild(Charts.bytesChart(points.get(r.name)));
      frag.appendChild(tr);
    }
    tbody.replaceChildren(frag);
    $("#empty").hidden = rows.length > 0;
    renderSummary(shown.length);
  }

  function renderSummary(shownCount) {
    const counts = {};
    for (const r of rows) counts[r.status] = (counts[r.status] || 0) + 1;
    const box = $("#summary");
    box.replaceChildren();
    const total = document.createElement("span");
    total.textContent = `${rows.length} mirror${rows.length === 1 ? "" : "s"}` +
      (shownCount !== rows.length ? ` (${shownCount} shown)` : "");
    box.appendChild(total);
    for (const s of STATUS_ORDER) {
      if (!counts[s]) continue;
      const span = document.createElement("span");
      span.className = `st-${s} count`;
      span.dataset.status = s;
      span.append(" · ");
      const b = document.createElement("button");
      b.type = "button";
      b.className = "badge";
      b.title = `show only ${s} mirrors`;
      b.textContent = `${counts[s]} ${s}`;
      b.addEventListener("click", () => { filterBox.value = s; render(); });
      span.appendChild(b);
      box.appendChild(span);
    }
  }

  function showError(err, delayMs) {
    table.classList.add("stale");
    banner.hidden = false;
    let left = Math.round(delayMs / 1000);
    const write = () => {
      const since = lastOk ? ` Showing data from ${lastOk.toLocaleTimeString()}.` : "";
      banner.textContent = `Cannot reach the manager: ${err.message || err}.${since} Retrying in ${left} s…`;
    };
    write();
    clearInterval(countdown);
    countdown = setInterval(() => { left = Math.max(0, left - 1); write(); }, 1000);
  }

  function schedule(ms) {
    clearTimeout(timer);
    timer = setTimeout(load, ms);
  }

  async function load() {
    clearTimeout(timer);
    try {
      const jobs = await getJSON("jobs");
      let archive = [];
      try { archive = (await getJSON("archive")) || []; } catch (e) { /* an older manager: no archive columns */ }
      if (Date.now() - picturesAt > PICTURES_MS) await loadPictures(archive.length > 0);
      rows = merge(Array.isArray(jobs) ? jobs : [], archiveOf(archive));
      failures = 0;
      lastOk = new Date();
      clearInterval(countdown);
      banner.hidden = true;
      table.classList.remove("stale");
      document.body.dataset.state = "ok";
      updated.textContent = `updated ${lastOk.toLocaleTimeString()}`;
      render();
      if (auto.checked) schedule(REFRESH_MS);
    } catch (err) {
      failures += 1;
      document.body.dataset.state = "error";
      const delay = Math.min(RETRY_MAX_MS, 2000 * 2 ** Math.min(failures - 1, 4));
      showError(err, delay);
      schedule(delay);     // keep retrying even with auto-refresh off: the page is useless otherwise
    }
  }

  // Run history and archive points: optional extras. /history answers 401 when tokens are on (the page
  // holds no token) and an older manager has neither route: the pictures are then left out.
  async function loadPictures(archived) {
    picturesAt = Date.now();
    const [h, p] = await Promise.allSettled([
      getJSON("history?limit=30"),
      archived ? getJSON("archive/history?days=30&step=24") : Promise.resolve([]),
    ]);
    if (h.status === "fulfilled" && Array.isArray(h.value)) {
      history = new Map();
      for (const e of h.value) history.set(e.name, (history.get(e.name) || []).concat(e.runs || []));
      for (const runs of history.values()) runs.sort((a, b) => Date.parse(b.started) - Date.parse(a.started));
    } else history = null;
    points = new Map();
    if (p.status === "fulfilled" && Array.isArray(p.value)) {
      for (const e of p.value) {
        // a mirror on several workers: add their figures hour by hour
        const acc = points.get(e.name) || new Map();
        for (const q of e.points || []) {
          const o = acc.get(q.t) || { t: q.t, disk_bytes: 0, filecoin_bytes: 0 };
          o.disk_bytes += q.disk_bytes || 0; o.filecoin_bytes += q.filecoin_bytes || 0;
          acc.set(q.t, o);
        }
        points.set(e.name, acc);
      }
      for (const [k, acc] of points) points.set(k, [...acc.values()].sort((a, b) => a.t - b.t));
    }
  }

  for (const th of table.tHead.rows[0].cells) {
    th.querySelector("button").addEventListener("click", () => {
      const key = th.dataset.key;
      sortDir = key === sortKey ? -sortDir : 1;
      sortKey = key;
      for (const h of table.tHead.rows[0].cells) h.removeAttribute("aria-sort");
      th.setAttribute("aria-sort", sortDir > 0 ? "ascending" : "descending");
      render();
    });
  }
  filterBox.value = params.get("q") || "";
  filterBox.addEventListener("input", render);
  auto.addEventListener("change", () => { if (auto.checked) load(); else clearTimeout(timer); });
  document.addEventListener("visibilitychange", () => { if (!document.hidden && auto.checked) load(); });
  load();
})();
