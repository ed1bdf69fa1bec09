#!/usr/bin/python3
"""--caches on and off: the same run counts exactly the same events (the caches only price walk
references), and --caches off prices them as before the hierarchy existed: walk cycles = refs x
latency.walk_ref + PWC hits x pwc_hit + nested-TLB hits x ntlb_hit. With caches on, walk cycles
are the levels' latencies summed over the references each level served.

usage: caches_on_off.py VMMU SOURCE_DIR OUT_DIR"""
import json
import os
import subprocess
import sys

vmmu, source, out = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(out, exist_ok=True)
profile = json.load(open(os.path.join(source, "workloads/profiles/nehalem-2009.json")))
lat = profile["latency"]
caches = profile["caches"]
level_latency = {"l1": caches["l1d"]["latency"], "l2": caches["l2"]["latency"],
                 "llc": caches["llc"]["latency"], "memory": caches["memory"]["value"]}


def run(mode):
    path = os.path.join(out, f"gups-caches-{mode}.json")
    subprocess.run([vmmu, "run", "--workload", "gups", "--param", "table_mib=4",
                    "--param", "updates=20000", "--backends", "native,shadow,slat,ideal,agile",
                    "--caches", mode, "--quiet", "--json", path],
                   check=True, stdout=subprocess.DEVNULL)
    return json.load(open(path))


on, off = run("on"), run("off")
failures = []


def expect(cond, what):
    if not cond:
        failures.append(what)


def close(a, b):
    return abs(a - b) <= 1e-6 * max(1.0, abs(a), abs(b))


expect(on["guest"] == off["guest"], "guest counters differ between --caches on and off")
for name, b_off in off["backends"].items():
    b_on = on["backends"][name]
    for part in ("tlb", "walks", "exits", "details"):
        expect(b_on[part] == b_off[part], f"{name}: {part} differ between --caches on and off")
    expect(b_off["caches"] == {"modelled": False}, f"{name}: --caches off still models caches")
    w = b_off["walks"]
    flat = w["refs"] * lat["walk_ref"]["value"] + w["pwc_hits"] * lat["pwc_hit"]["value"] + \
        w["ntlb_hits"] * lat["ntlb_hit"]["value"]
    expect(close(b_off["cycles"]["walk"], flat),
           f"{name}: --caches off walk cycles {b_off['cycles']['walk']} != flat price {flat}")
    expect(close(b_on["cycles"]["base"], b_off["cycles"]["base"]), f"{name}: base cycles moved")
    c = b_on["caches"]
    expect(c["modelled"], f"{name}: --caches on does not model caches")
    expect(sum(c["walk_refs"].values()) == w["refs"],
           f"{name}: walk references by level do not add up to the references")
    by_level = sum(n * level_latency[l] for l, n in c["walk_refs"].items())
    hits = w["pwc_hits"] * lat["pwc_hit"]["value"] + w["ntlb_hits"] * lat["ntlb_hit"]["value"]
    expect(close(b_on["cycles"]["walk"], by_level + hits),
           f"{name}: --caches on walk cycles {b_on['cycles']['walk']} != {by_level + hits}")
    if w["refs"]:
        expect(c["walk_refs"]["memory"] + c["walk_refs"]["llc"] > 0,
               f"{name}: no walk reference ever left L1/L2 on a 4 MiB table")

for f in failures:
    print("FAIL:", f)
sys.exit(1 if failures else 0)
