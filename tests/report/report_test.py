#!/usr/bin/python3
"""ctest: a report made from a small run, a small scaling study, a small density study with
deduplication and a small sweep has every chart, each a decodable, non-blank PNG, opens with a
summary and prints numbers as the console does; the density document has what its schema
(results/schema/vmmu.study.density.schema.json) requires; a document of another schema is refused
naming the schemas the report reads. Usage: report_test.py VMMU_BINARY SOURCE_DIR WORK_DIR"""
import base64
import html.parser
import io
import json
import os
import shutil
import struct
import subprocess
import sys

import matplotlib.image as mpimg

RUN_CHARTS = ["cycles", "exits", "walkrefs", "walkcaches", "tlb"]
STUDY_CHARTS = ["study_curves", "study_capacity", "study_ratio", "study_sensitivity",
                "study_sensitivity_a"]
DENSITY_CHARTS = ["vms", "memory", "cpu"]
SWEEP_CHARTS = ["sweep_cycles", "sweep_exits", "sweep_walkrefs", "sweep_stlb"]


def check_required(doc, schema, defs, where="document"):
    """The schema's required keys, recursively through objects, arrays and $defs."""
    if "$ref" in schema:
        schema = defs[schema["$ref"].split("/")[-1]]
    if isinstance(doc, dict):
        missing = [k for k in schema.get("required", []) if k not in doc]
        assert not missing, f"{where}: missing {missing}"
        for k, v in doc.items():
            if k in schema.get("properties", {}):
                check_required(v, schema["properties"][k], defs, f"{where}.{k}")
            elif isinstance(schema.get("additionalProperties"), dict):
                check_required(v, schema["additionalProperties"], defs, f"{where}.{k}")
    elif isinstance(doc, list) and "items" in schema:
        for i, v in enumerate(doc):
            check_required(v, schema["items"], defs, f"{where}[{i}]")


class Charts(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.images = {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img" and "data-chart" in a:
            self.images[a["data-chart"]] = a.get("src", "")


def check_png(name, src):
    prefix = "data:image/png;base64,"
    assert src.startswith(prefix), f"{name}: not an embedded PNG"
    data = base64.b64decode(src[len(prefix):], validate=True)
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{name}: bad PNG signature"
    width, height = struct.unpack(">II", data[16:24])  # IHDR follows the signature
    assert width > 50 and height > 50, f"{name}: {width}x{height} image"
    pixels = mpimg.imread(io.BytesIO(data), format="png")
    assert pixels.std() > 0.01, f"{name}: blank image"


def main(vmmu, source, work):
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    run_json = os.path.join(work, "run.json")
    subprocess.run([vmmu, "run", "--quiet", "--workload", "forkwait", "--param", "n=20",
                    "--json", run_json], check=True, stdout=subprocess.DEVNULL)
    study_dir = os.path.join(work, "study")
    subprocess.run([vmmu, "study", "scaling", "--sessions", "1,2", "--param", "actions=1",
                    "--param", "burst_updates=500", "--out", study_dir], check=True,
                   stdout=subprocess.DEVNULL)
    # A sensitivity grid as `--sensitivity` writes it, too small to need its runs: the report
    # must chart it (the grid's own runs are tested in C++).
    study_json = os.path.join(study_dir, "study.json")
    with open(study_json) as fh:
        study = json.load(fh)
    points = [{"burst_updates": bu, "ws_mib": 1, "think_ticks": 1, "actions_per_sec": a,
               "slat/shadow": r, "shadow_sessions": 10.0, "slat_sessions": 10.0 * r,
               "verdict": "within band" if 1.6 <= r <= 2.5 else "above band"}
              for bu, r in [(500, 2.9), (2000, 2.3)] for a in [5.0, 10.0]]
    study["sensitivity"] = {"sessions": 2, "axes": {"burst_updates": [500, 2000], "ws_mib": [1],
                                                    "think_ticks": [1],
                                                    "actions_per_sec": [5.0, 10.0]},
                            "what": "test grid", "published_band": [1.6, 2.5], "measured": 4,
                            "in_band": 2, "points": points}
    with open(study_json, "w") as fh:
        json.dump(study, fh)
    # Memory the limit (2 MiB host: two forkwait VMs need about 1.1 MiB without sharing), a fast
    # scanner: sharing lets slat fit more VMs.
    density_json = os.path.join(work, "density.json")
    subprocess.run([vmmu, "study", "density", "--param", "n=20", "--max-vms", "3",
                    "--host-mib", "2", "--dedup", "--dedup-period", "200000",
                    "--dedup-pages", "2000", "--json", density_json], check=True,
                   stdout=subprocess.DEVNULL)
    with open(density_json) as fh:
        density = json.load(fh)
    with open(os.path.join(source, "results", "schema", "vmmu.study.density.schema.json")) as fh:
        schema = json.load(fh)
    check_required(density, schema, schema["$defs"])
    slat = density["results"]["slat"]
    assert slat["bound"] == "memory", slat
    assert slat["vms"] > slat["vms_without_dedup"], slat
    assert slat["bytes_saved_peak"] > 0 and slat["scan_cycles"] > 0, slat
    sweep_dir = os.path.join(work, "sweep")
    subprocess.run([vmmu, "sweep", os.path.join(source, "tests", "regression", "sweep_small.json"),
                    "--out", sweep_dir, "--jobs", "2", "--no-progress"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    script = os.path.join(source, "report", "make_report.py")
    out = os.path.join(work, "report.html")
    subprocess.run([sys.executable, script, os.path.join(study_dir, "study.json"), run_json,
                    density_json, os.path.join(sweep_dir, "sweep.json"), "-o", out], check=True)
    parser = Charts()
    with open(out) as fh:
        text = fh.read()
    parser.feed(text)
    # Summary first (headline, what ran, configuration), details after; console formatting.
    summary, details = text.find("<h2>Summary</h2>"), text.find("<h2>Details</h2>")
    assert 0 < summary < details, "the report does not open with a summary"
    for part in ["headline: slat sustains", "what ran: the sessions workload", "configuration:",
                 "Sweep: Tiny grid"]:
        assert part in text[summary:details], f"summary lacks {part!r}"
    # The text without the embedded images, whose base64 could hold any word.
    bare = "".join(part.split('"', 1)[-1] for part in text.split("data:image/png;base64,"))
    for bad in ["True", "False", "e+0", '{&quot;native', "(issue "]:
        assert bad not in bare, f"report shows {bad!r}"
    assert "<td>native 2.93, shadow 2.93, slat 2.93</td>" in text, "GHz cell not formatted"
    demo = os.path.join(work, "demo.json")
    with open(demo, "w") as fh:
        json.dump({"schema": "vmmu.demo.exits/1"}, fh)
    refused = subprocess.run([sys.executable, script, demo, "-o", out + ".x"],
                             capture_output=True, text=True)
    assert refused.returncode == 2 and "vmmu.sweep/1" in refused.stderr, refused.stderr
    expected = STUDY_CHARTS + [f"study_run{i}_{c}" for i in range(2) for c in RUN_CHARTS] + \
        [f"run1_{c}" for c in RUN_CHARTS] + [f"density2_{c}" for c in DENSITY_CHARTS] + \
        [f"sweep3_{c}" for c in SWEEP_CHARTS]
    missing = [e for e in expected if e not in parser.images]
    assert not missing, f"charts missing from {out}: {missing} (found {sorted(parser.images)})"
    for name, src in parser.images.items():
        check_png(name, src)
    print(f"{len(parser.images)} charts, all non-blank PNGs")


if __name__ == "__main__":
    main(*sys.argv[1:4])
