// Small SVG pictures shared by the status page and the mirror page: a sync-history strip, bytes on
// disk vs on Filecoin over time, and a copies histogram. Plain DOM, no library; every text goes in
// through textContent, never as markup.
"use strict";
const Charts = (function () {
  const NS = "http://www.w3.org/2000/svg";
  const STATUS_COLOR = { success: "var(--success)", failed: "var(--failed)" };

  function el(name, attrs, parent) {
    const e = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (parent) parent.appendChild(e);
    return e;
  }

  function svg(w, h, label) {
    const s = el("svg", { width: w, height: h, viewBox: `0 0 ${w} ${h}`, role: "img" });
    s.setAttribute("aria-label", label);
    const t = el("title", {}, s);
    t.textContent = label;
    return s;
  }

  function fmtBytes(n) {
    if (!n) return "0 B";
    const u = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let i = 0;
    while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
    return (i ? n.toFixed(n < 10 ? 2 : n < 100 ? 1 : 0) : String(n)) + " " + u[i];
  }

  function fmtDuration(s) {
    if (s < 60) return `${Math.round(s)} s`;
    if (s < 3600) return `${Math.round(s / 60)} min`;
    return `${(s / 3600).toFixed(1)} h`;
  }

  // runs: newest first, as GET /history answers. Oldest drawn left; height ~ duration (square root,
  // so one long run does not flatten the rest); colour = outcome.
  function historyStrip(runs, n, w, h) {
    n = n || 30; w = w || 120; h = h || 22;
    const shown = (runs || []).slice(0, n).reverse();
    const ok = shown.filter((r) => r.status === "success").length;
    const s = svg(w, h, `last ${shown.length} runs: ${ok} succeeded, ${shown.length - ok} failed`);
    s.classList.add("strip");
    const dur = shown.map((r) => Math.max(0, (Date.parse(r.ended) - Date.parse(r.started)) / 1000) || 0);
    const top = Math.sqrt(Math.max(1, ...dur));
    const bw = w / n;
    shown.forEach((r, i) => {
      const bh = Math.max(3, (h - 1) * Math.sqrt(dur[i]) / top);
      const bar = el("rect", { x: (n - shown.length + i) * bw + 0.5, y: h - bh, width: Math.max(1, bw - 1.5), height: bh,
        fill: STATUS_COLOR[r.status] || "var(--none)", "data-status": r.status }, s);
      const t = el("title", {}, bar);
      t.textContent = `${new Date(r.started).toLocaleString()}: ${r.status}, ${fmtDuration(dur[i])}` +
        (r.error_msg ? ` (${r.error_msg})` : "");
    });
    return s;
  }

  // points: oldest first, {t, disk_bytes, filecoin_bytes}. Two lines on one scale; axes when big.
  function bytesChart(points, w, h, axes) {
    w = w || 120; h = h || 28;
    const pts = (points || []).filter((p) => Number.isFinite(p.t));
    const last = pts[pts.length - 1];
    const label = last ? `on disk ${fmtBytes(last.disk_bytes)}, on Filecoin ${fmtBytes(last.filecoin_bytes)}` : "no figures yet";
    const s = svg(w, h, label);
    s.classList.add("bytes-chart");
    if (!pts.length) return s;
    const pad = axes ? { l: 64, r: 8, t: 8, b: 20 } : { l: 1, r: 1, t: 2, b: 2 };
    const t0 = pts[0].t, t1 = Math.max(pts[pts.length - 1].t, t0 + 3600);
    const top = Math.max(1, ...pts.map((p) => Math.max(p.disk_bytes || 0, p.filecoin_bytes || 0)));
    const x = (t) => pad.l + (w - pad.l - pad.r) * (t - t0) / (t1 - t0);
    const y = (v) => h - pad.b - (h - pad.t - pad.b) * (v || 0) / top;
    if (axes) {
      for (const v of [0, top / 2, top]) {
        el("line", { x1: pad.l, x2: w - pad.r, y1: y(v), y2: y(v), stroke: "var(--line)" }, s);
        const tx = el("text", { x: pad.l - 6, y: y(v) + 4, "text-anchor": "end", class: "axis" }, s);
        tx.textContent = fmtBytes(v);
      }
      for (const [t, anchor] of [[t0, "start"], [t1, "end"]]) {
        const tx = el("text", { x: x(t), y: h - 4, "text-anchor": anchor, class: "axis" }, s);
        tx.textContent = new Date(t * 1000).toLocaleDateString();
      }
    }
    for (const [key, cls] of [["filecoin_bytes", "line-filecoin"], ["disk_bytes", "line-disk"]]) {
      const d = pts.map((p, i) => `${i ? "L" : "M"}${x(p.t).toFixed(1)},${y(p[key]).toFixed(1)}`).join(" ");
      el("path", { d: pts.length === 1 ? `${d} h${Math.max(2, w / 40)}` : d, class: cls, fill: "none" }, s);
    }
    return s;
  }

  // hist: {"<copies>": pieces}; wanted: the configured n (bars below it are drawn as a warning).
  function copiesHistogram(hist, wanted, w, h, labels) {
    w = w || 80; h = h || 22;
    const ks = Object.keys(hist || {}).map(Number).filter((k) => Number.isFinite(k)).sort((a, b) => a - b);
    const hi = Math.max(wanted || 0, ...ks, 1);
    const pieces = ks.reduce((sum, k) => sum + (hist[k] || 0), 0);
    const s = svg(w, h, `${pieces} piece(s) by verified copies` + (wanted ? `, ${wanted} wanted` : ""));
    s.classList.add("copies-hist");
    const top = Math.max(1, ...ks.map((k) => hist[k] || 0));
    const bw = w / (hi + 1);
    const lb = labels ? 14 : 0;
    for (let k = 0; k <= hi; k++) {
      const v = hist[k] || 0;
      const bh = v ? Math.max(2, (h - lb - 1) * v / top) : 0;
      const bar = el("rect", { x: k * bw + 0.5, y: h - lb - bh, width: Math.max(1, bw - 1.5), height: bh,
        class: wanted && k < wanted ? "copies-low" : "copies-ok", "data-copies": k, "data-pieces": v }, s);
      const t = el("title", {}, bar);
      t.textContent = `${v} piece(s) with ${k} cop${k === 1 ? "y" : "ies"}`;
      if (labels) {
        const tx = el("text", { x: k * bw + bw / 2, y: h - 2, "text-anchor": "middle", class: "axis" }, s);
        tx.textContent = String(k);
      }
    }
    return s;
  }

  return { historyStrip, bytesChart, copiesHistogram, fmtBytes, fmtDuration };
})();
