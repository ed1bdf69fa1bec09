#include "engine/output/walk_html.h"
#include "engine/output/markup.h"

#include "engine/output/walk_report.h"

#include <string>

namespace vmmu {

namespace {

// The page: high contrast, large type, fits 1024x768; a cell's state is spelt out in words and
// outlined, never shown by colour alone.
constexpr const char* kHead = R"HTML(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'">
<title>vmmu: the 2D page walk, step by step</title>
<style>
body { background: #000; color: #fff; font: 20px/1.35 sans-serif; margin: 12px; max-width: 1000px; }
h1 { font-size: 26px; margin: 0 0 8px; }
button, select { font: inherit; background: #fff; color: #000; border: 3px solid #fff; padding: 4px 12px; }
button:focus, select:focus { outline: 4px solid #ff0; }
table { border-collapse: collapse; margin: 10px 0; }
th, td { border: 2px solid #fff; padding: 4px 8px; font-family: monospace; font-size: 18px; min-width: 110px; }
td.done { background: #333; }
td.now { background: #ff0; color: #000; outline: 4px solid #ff0; font-weight: bold; }
#detail { border: 3px solid #fff; padding: 8px; min-height: 140px; font-size: 20px; }
.mark { font-weight: bold; }
</style></head><body>
<h1>The 2D page walk, one reference at a time</h1>
<div id="about"></div>
<p><label>Walk: <select id="variant"></select></label>
<button id="prev">&larr; previous</button> <button id="next">next &rarr;</button>
<button id="play">play</button> <span id="pos"></span></p>
<table id="grid"></table>
<div id="detail" aria-live="polite"></div>
<p>Keys: right arrow or space = next, left arrow = previous, p = play or pause, 1/2/3 = walk.</p>
<h2>Native and shadow: one-dimensional walks</h2><div id="oned"></div>
<script id="walk" type="application/json">)HTML";

constexpr const char* kTail = R"HTML(</script>
<script>
"use strict";
const d = JSON.parse(document.getElementById("walk").textContent);
const slatName = Object.keys(d).find(k => d[k] && d[k].cold_grid);
const s = d[slatName];
const variants = [
  ["cold_grid", "cold: no page-walk caches, no nested TLB (" + s.cold_references + " references)"],
  ["cached_from_empty_grid", "with PWC and NTLB, starting empty (" + s.cached_from_empty_references + " references)"],
  ["warm_grid", "the same walk again, caches warm (" + s.warm_references + " references)"]];
const rows = [];
for (let n = s.guest_levels || 4; n >= 1; n--) rows.push("gL" + n);
rows.push("data");
const cols = [];
for (let n = s.ept_levels; n >= 1; n--) cols.push("nL" + n);
cols.push("guest");
const guestDecoded = {};
for (const r of d.guest_walk) guestDecoded["gL" + r.level] = r;
let variant = 0, step = 0, timer = null;
const sel = document.getElementById("variant");
variants.forEach((v, i) => { const o = document.createElement("option"); o.value = i; o.textContent = v[1]; sel.appendChild(o); });
document.getElementById("about").textContent =
  "gVA " + d.va + " -> gPA " + d.gpa + " -> hPA " + s.hpa + " under " + slatName +
  " (" + (s.guest_levels || 4) + "-level guest tables, EPT pages 2^" + s.ept_page_shift + " bytes, " + s.ept_levels + "-level EPT); walked at " + d.moment + ".";
function cells() { return d[slatName][variants[variant][0]]; }
function describe(c) {
  const nested = c.column !== "guest";
  let t = "Reference " + c.order + ": " + (nested
    ? "nested (EPT) level " + c.column.slice(2) + " entry, translating the gPA of " + (c.row === "data" ? "the data" : "the " + c.row + " guest table")
    : "guest " + c.row + " table entry (read at its host address)");
  t += "\nhost-physical address: " + c.hpa;
  if (c.served) t += "\nserved by: " + c.served + " (cache hierarchy, cold walk)";
  if (!nested && guestDecoded[c.row]) {
    const g = guestDecoded[c.row];
    t += "\nguest entry at gPA " + g.address + " = " + g.entry + ": " + g.decoded;
  }
  if (variants[variant][0] !== "cold_grid")
    t += "\nthis walk: " + (c.warm === "ref" ? "read again" + (c.warm_served ? " (from " + c.warm_served + ")" : "")
                          : c.warm === "none" ? "not reached" : "SAVED by the " + c.warm);
  return t;
}
function render() {
  const list = cells();
  if (step > list.length) step = list.length;
  const g = document.getElementById("grid");
  g.innerHTML = "";
  const head = g.insertRow();
  head.appendChild(document.createElement("th"));
  for (const c of cols) { const th = document.createElement("th"); th.textContent = c; head.appendChild(th); }
  for (const r of rows) {
    const tr = g.insertRow();
    const th = document.createElement("th"); th.textContent = r; tr.appendChild(th);
    for (const c of cols) {
      const td = tr.insertCell();
      const cell = list.find(x => x.row === r && x.column === c);
      if (r === "data" && c === "guest") { td.textContent = "(data)"; continue; }
      if (!cell) { td.textContent = "-"; continue; }
      td.id = "cell-" + cell.order;
      if (cell.order <= step) {
        let mark = cell.order + " " + cell.hpa;
        if (variants[variant][0] !== "cold_grid") mark = cell.order + (cell.warm === "ref" ? " read" : cell.warm === "none" ? "" : " saved: " + cell.warm);
        td.textContent = mark;
        td.className = cell.order === step ? "now" : "done";
      } else td.textContent = String(cell.order);
    }
  }
  const now = list.find(x => x.order === step);
  document.getElementById("detail").innerText = now ? describe(now) : "Press next to take the first reference.";
  document.getElementById("pos").textContent = "step " + step + " of " + list.length;
}
function next() { if (step < cells().length) step++; else stop(); render(); }
function prev() { if (step > 0) step--; render(); }
function stop() { if (timer) { clearInterval(timer); timer = null; document.getElementById("play").textContent = "play"; } }
function play() { if (timer) { stop(); return; } if (step >= cells().length) step = 0; timer = setInterval(next, 900); document.getElementById("play").textContent = "pause"; }
document.getElementById("next").onclick = next;
document.getElementById("prev").onclick = prev;
document.getElementById("play").onclick = play;
sel.onchange = () => { variant = Number(sel.value); render(); };
document.addEventListener("keydown", e => {
  if (e.target === sel) return;
  if (e.key === "ArrowRight" || e.key === " ") { e.preventDefault(); next(); }
  else if (e.key === "ArrowLeft") prev();
  else if (e.key === "p") play();
  else if ("123".includes(e.key)) { variant = Number(e.key) - 1; sel.value = variant; render(); }
});
const oned = document.getElementById("oned");
for (const k of Object.keys(d)) {
  if (!d[k] || !d[k].refs) continue;
  const p = document.createElement("pre");
  let t = k + ": " + d[k].references + " references\n";
  for (const r of d[k].refs) t += "  L" + r.level + " at " + r.address + " = " + r.entry + "  " + r.decoded + (r.served ? " (" + r.served + ")" : "") + "\n";
  p.textContent = t;
  oned.appendChild(p);
}
render();
</script></body></html>
)HTML";

} // namespace

std::string walk_demo_html(const WalkDemo& d) {
    return std::string(kHead) + script_safe_json(walk_demo_json(d).dump()) + kTail;
}

} // namespace vmmu
