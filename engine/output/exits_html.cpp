// `vmmu demo exits --html`: the exits of one window as a page (declared in exits_report.h).
#include "engine/output/exits_report.h"
#include "engine/output/markup.h"

#include <string>

namespace vmmu {

namespace {

// High contrast and large type for a projector at 1024x768; every mark on the strip also has its
// row in the table, where the reason is spelt out: colour is never the only carrier.
constexpr const char* kExitsHead = R"HTML(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'">
<title>vmmu: VM exits under shadow paging and slat</title>
<style>
body { background: #000; color: #fff; font: 20px/1.35 sans-serif; margin: 12px; max-width: 1000px; }
h1 { font-size: 26px; margin: 0 0 8px; } h2 { font-size: 22px; margin: 14px 0 6px; }
button { font: inherit; background: #fff; color: #000; border: 3px solid #fff; padding: 2px 10px; }
button:focus, input:focus { outline: 4px solid #ff0; }
fieldset { border: 3px solid #fff; margin: 8px 0; }
label { margin-right: 14px; white-space: nowrap; }
input[type=checkbox], input[type=radio] { width: 20px; height: 20px; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border: 2px solid #fff; padding: 3px 6px; font-family: monospace; font-size: 16px; text-align: left; }
td.num { text-align: right; }
tr.sel td { background: #ff0; color: #000; font-weight: bold; }
#strip { position: relative; height: 64px; border: 2px solid #fff; margin: 6px 0; }
#strip .lane { position: absolute; left: 4px; font-size: 14px; }
#strip span.m { position: absolute; width: 3px; height: 22px; background: #fff; }
#strip span.m.slat { background: #0ff; }
#strip span.m.cur { width: 7px; height: 30px; margin-top: -4px; outline: 3px solid #fff; }
#detail { border: 3px solid #fff; padding: 8px; min-height: 90px; white-space: pre-wrap; }
pre { font-size: 16px; }
</style></head><body>
<h1>VM exits: shadow paging, and slat in the same window</h1>
<div id="about"></div>
<fieldset id="filters"><legend>Reasons shown (exits in the window)</legend></fieldset>
<p><button id="all">all reasons</button> <button id="none">no reason</button>
<label><input type="radio" name="scheme" value="shadow" checked> shadow's exits</label>
<label><input type="radio" name="scheme" value="slat"> slat's exits</label>
<span id="count" aria-live="polite"></span></p>
<div id="strip" aria-hidden="true"><span class="lane" style="top:2px">shadow</span><span class="lane" style="top:34px">slat</span></div>
<div id="axis"></div>
<div id="detail" aria-live="polite"></div>
<p>Keys: j or down arrow = next shown exit, k or up arrow = previous, s = shadow, n = slat.</p>
<table id="timeline"></table>
<h2>Exits by reason</h2><table id="totals"></table>
<h2>Glossary</h2><pre id="glossary"></pre>
<script id="exits" type="application/json">)HTML";

constexpr const char* kExitsTail = R"HTML(</script>
<script>
"use strict";
const d = JSON.parse(document.getElementById("exits").textContent);
const why = {
  pf_hidden: "The guest's tables allow the access but the shadow tables lack the entry: a fault the guest never sees. The hypervisor fills the shadow entry from the guest's and resumes.",
  pf_guest: "A page fault the guest's own tables cause. Every #PF exits under shadow paging (the hardware cannot tell it from a hidden one); the hypervisor reflects it into the guest.",
  pt_write: "A store to a guest page table the hypervisor write-protects because shadow entries mirror it: emulated, or the table is let go out of sync (unsync).",
  cr3_write: "mov to CR3: the hardware must load the shadow root for the guest's new root; the hypervisor finds or builds it, resyncing unsync tables on a flush.",
  invlpg: "The guest drops one TLB entry; the hypervisor drops (or resyncs) its shadow entry too.",
  ept_violation: "slat: the first touch of a guest frame the EPT does not map yet; the hypervisor maps it. Guest page-table edits, CR3 writes and guest faults need no exit under slat.",
  io: "Port I/O: the hypervisor emulates the device.",
  hlt: "hlt: the vCPU sleeps until its next interrupt.",
  timer: "The host timer: the hypervisor injects the guest's timer interrupt.",
  other: "An instruction that exits unconditionally (cpuid, MSR access, CR0/CR4 writes, ...), emulated."
};
const palette = ["#fff", "#ff0", "#0ff", "#f8f", "#8f8", "#fa0", "#aaf", "#f66", "#ccc", "#6cf"];
const reasons = [...new Set(d.shadow.exits.concat(d.slat.exits).map(e => e.reason))].sort();
const shown = {};
for (const r of reasons) shown[r] = d.reasons.length === 0 || d.reasons.includes(r);
let scheme = "shadow", sel = -1;
const fs = document.getElementById("filters");
reasons.forEach((r, i) => {
  const l = document.createElement("label");
  const c = document.createElement("input");
  c.type = "checkbox"; c.id = "f-" + r; c.checked = shown[r];
  c.onchange = () => { shown[r] = c.checked; render(); };
  l.appendChild(c);
  l.appendChild(document.createTextNode(" " + r + " (shadow " + (d.shadow.window_totals[r] || 0) + ", slat " + (d.slat.window_totals[r] || 0) + ")"));
  fs.appendChild(l);
});
const window_text = d.window_is_whole_run
  ? "every exit of the run " + (d.from === "boot" ? "from boot" : d.from)
  : "the window " + (d.from === "boot" ? "from boot" : d.from) + " to shadow's exit number " + d.limit +
    " (instruction " + d.shadow.exits[d.shadow.exits.length - 1].instructions + ")";
document.getElementById("about").textContent = "Workload " + d.workload + ": " + window_text +
  ". Both schemes ran the same guest execution: in this window shadow paging took " + d.shadow.exits.length +
  " exits and slat " + d.slat.exits.length + ".";
function visible() { return d[scheme].exits.filter(e => shown[e.reason]); }
function describe(e, i) {
  return scheme + " exit " + (i + 1) + " of " + d[scheme].exits.length + ": " + e.reason +
    ", after " + e.instructions + " guest instructions\n" +
    "guest instruction: " + (e.instruction || "?") + " at RIP " + e.rip + " in " + e.function + "\n" +
    (e.address_kind === "-" ? "" : "address: " + e.address_kind + " " + e.address + "\n") +
    "hypervisor action: " + e.action + "\n" + (why[e.reason] || "");
}
function render() {
  const list = d[scheme].exits;
  const t = document.getElementById("timeline");
  t.innerHTML = "";
  const h = t.insertRow();
  for (const c of ["#", "guest time", "reason", "function", "instruction", "address", "hypervisor action"]) {
    const th = document.createElement("th"); th.textContent = c; h.appendChild(th);
  }
  let n = 0;
  list.forEach((e, i) => {
    if (!shown[e.reason]) return;
    n++;
    const tr = t.insertRow();
    tr.id = "exit-" + scheme + "-" + (i + 1);
    tr.dataset.reason = e.reason;
    if (i === sel) tr.className = "sel";
    const cells = [String(i + 1), String(e.instructions), e.reason, e.function, e.instruction || "?",
                   e.address_kind === "-" ? "-" : e.address_kind + " " + e.address, e.action];
    for (const v of cells) { const td = tr.insertCell(); td.textContent = v; }
    tr.onclick = () => { sel = i; render(); };
  });
  document.getElementById("count").textContent = "showing " + n + " of " + list.length + " " + scheme + " exits";
  const now = list[sel];
  document.getElementById("detail").textContent = now && shown[now.reason] ? describe(now, sel)
    : "Click an exit, or press j, to see what the hypervisor did and why.";
  // The strip: both schemes' exits at their place in guest time (instructions retired).
  const strip = document.getElementById("strip");
  for (const m of [...strip.querySelectorAll("span.m")]) m.remove();
  const all = d.shadow.exits.concat(d.slat.exits).map(e => e.instructions);
  const lo = Math.min(...all), hi = Math.max(...all);
  for (const s of ["shadow", "slat"])
    d[s].exits.forEach((e, i) => {
      if (!shown[e.reason]) return;
      const m = document.createElement("span");
      m.className = "m " + s + (s === scheme && i === sel ? " cur" : "");
      m.style.left = (70 + (hi > lo ? (e.instructions - lo) / (hi - lo) : 0) * 900) + "px";
      m.style.top = s === "shadow" ? "4px" : "36px";
      m.style.background = palette[reasons.indexOf(e.reason) % palette.length];
      strip.appendChild(m);
    });
  document.getElementById("axis").textContent = "guest time, left to right: instruction " + lo + " to " + hi;
}
function move(step) {
  const list = d[scheme].exits;
  let i = sel;
  do { i += step; } while (i >= 0 && i < list.length && !shown[list[i].reason]);
  if (i >= 0 && i < list.length) { sel = i; render(); const r = document.getElementById("exit-" + scheme + "-" + (i + 1)); if (r && r.scrollIntoView) r.scrollIntoView({block: "nearest"}); }
}
function setScheme(s) {
  scheme = s; sel = -1;
  for (const r of document.querySelectorAll("input[name=scheme]")) r.checked = r.value === s;
  render();
}
for (const r of document.querySelectorAll("input[name=scheme]")) r.onchange = () => setScheme(r.value);
document.getElementById("all").onclick = () => { for (const r of reasons) { shown[r] = true; document.getElementById("f-" + r).checked = true; } render(); };
document.getElementById("none").onclick = () => { for (const r of reasons) { shown[r] = false; document.getElementById("f-" + r).checked = false; } render(); };
document.addEventListener("keydown", e => {
  if (e.key === "j" || e.key === "ArrowDown") { e.preventDefault(); move(1); }
  else if (e.key === "k" || e.key === "ArrowUp") { e.preventDefault(); move(-1); }
  else if (e.key === "s") setScheme("shadow");
  else if (e.key === "n") setScheme("slat");
});
const tot = document.getElementById("totals");
const th = tot.insertRow();
for (const c of ["reason", "shadow, window", "slat, window", "shadow, whole run", "slat, whole run"]) {
  const x = document.createElement("th"); x.textContent = c; th.appendChild(x);
}
const allReasons = [...new Set(reasons.concat(Object.keys(d.shadow.run_totals), Object.keys(d.slat.run_totals)))].sort();
for (const r of allReasons) {
  const tr = tot.insertRow();
  tr.id = "total-" + r;
  const v = [r, d.shadow.window_totals[r] || 0, d.slat.window_totals[r] || 0, d.shadow.run_totals[r] || 0, d.slat.run_totals[r] || 0];
  v.forEach((x, i) => { const td = tr.insertCell(); td.textContent = String(x); if (i) td.className = "num"; });
}
document.getElementById("glossary").textContent = d.glossary;
render();
</script></body></html>
)HTML";

} // namespace

std::string exits_page_html(const ExitsPage& p) {
    return std::string(kExitsHead) + script_safe_json(exits_page_json(p).dump()) + kExitsTail;
}

} // namespace vmmu
