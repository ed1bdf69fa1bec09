// `vmmu demo walk --html`: runs the page's own script under Node against a minimal document
// (no browser here): steps, goes back, switches walk by key, and checks the highlighted cell and
// the detail text against the embedded vmmu.demo.walk/1 data; and that the page asks for nothing
// over the network.
"use strict";
const fs = require("fs");
const html = fs.readFileSync(process.argv[2], "utf8");
function fail(msg) { console.error("FAIL: " + msg); process.exit(1); }
if (/\bsrc\s*=|https?:\/\/|<link\b|@import|fetch\(|XMLHttpRequest/.test(html.replace(/http-equiv/g, "")))
  fail("the page refers to something outside itself");
const json = html.match(/<script id="walk" type="application\/json">([\s\S]*?)<\/script>/)[1];
const code = html.match(/<script>\n([\s\S]*?)<\/script>/)[1];
const data = JSON.parse(json);
function el(tag) {
  return { tag, children: [], textContent: "", innerText: "", className: "", id: "", value: "",
    appendChild(c) { this.children.push(c); return c; },
    insertRow() { return this.appendChild(el("tr")); },
    insertCell() { return this.appendChild(el("td")); },
    set innerHTML(v) { this.children = []; } };
}
const ids = {};
const keys = [];
const document = {
  getElementById(id) { return id === "walk" ? { textContent: json } : (ids[id] = ids[id] || el(id)); },
  createElement: el,
  addEventListener(type, f) { keys.push(f); } };
eval(code);
function highlighted() {
  const out = [];
  (function walk(n) { for (const c of n.children) { if (c.className === "now") out.push(c); walk(c); } })(ids.grid);
  return out;
}
const slat = data.slat;
if (!slat) fail("no slat walk in the page");
for (let i = 0; i < 5; i++) ids.next.onclick();
if (ids.pos.textContent !== "step 5 of " + slat.cold_grid.length) fail("position: " + ids.pos.textContent);
const now = highlighted();
const five = slat.cold_grid.find(c => c.order === 5);
if (now.length !== 1 || now[0].id !== "cell-5" || !now[0].textContent.includes(five.hpa))
  fail("highlighted cell after 5 steps: " + JSON.stringify(now.map(c => c.textContent)));
if (!ids.detail.innerText.includes("Reference 5") || !ids.detail.innerText.includes(five.hpa))
  fail("detail: " + ids.detail.innerText);
ids.prev.onclick();
if (highlighted()[0].id !== "cell-4") fail("previous did not go back");
keys[0]({ key: "3", target: null, preventDefault() {} });
const four = slat.warm_grid.find(c => c.order === 4);
const want = four.warm === "ref" ? "read again" : "SAVED by the " + four.warm;
if (!ids.detail.innerText.includes(want)) fail("warm walk detail lacks '" + want + "': " + ids.detail.innerText);
keys[0]({ key: "ArrowRight", target: null, preventDefault() {} });
if (highlighted()[0].id !== "cell-5") fail("the right arrow did not step");
console.log("walk page: ok");
