#!/usr/bin/python3
"""ctest: what CI engineers read from vmmu. One section per ctest:
  formats     vmmu compare / vmmu baseline check as text, Markdown, JUnit XML (parsed with an
              XML parser and checked for the elements and attributes the Ant/Jenkins JUnit
              schema requires) and JSON, with and without moved values.
  provenance  every document says what produced it (hashes checked with hashlib); compare
              warns on a difference, --strict-provenance fails, vmmu's version alone is a note.
  set         --set KEY=VALUE on run and in sweep specs: recorded, moves only what it should,
              bad keys and values exit 2 naming them.
  export      --export gbench|bmf on run, sweep and baseline check; Debian libbenchmark-tools'
              compare.py reads two gbench exports and reports the difference.
  tolerances  --regressions-only, per-counter tolerances, --ignore, an absolute --floor and
              --tolerance-file on compare and baseline check.
  workflows   docs/ci/github-actions.yml and docs/ci/gitlab-ci.yml: every vmmu command they run
              exists and runs here, and writes the files their later steps publish.
  csv         vmmu export csv: row and column counts for a sweep, a multi-VM run, a run with
              windows (the planned vmmu.run/1 `windows` block) and without (window "whole").
Usage: ci_test.py SECTION VMMU_BINARY SOURCE_DIR WORK_DIR"""
import copy
import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

SECTION, VMMU, SOURCE, WORK = sys.argv[1:5]
VMMU = os.path.abspath(VMMU)


def vmmu(*args, code=0, cwd=None):
    p = subprocess.run([VMMU, *map(str, args)], capture_output=True, text=True, cwd=cwd)
    assert p.returncode == code, (
        f"vmmu {' '.join(map(str, args))}: exit {p.returncode}, expected {code}\n"
        f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}")
    return p


def path(name):
    return os.path.join(WORK, name)


def load(name):
    with open(path(name)) as f:
        return json.load(f)


def save(name, doc):
    with open(path(name), "w") as f:
        json.dump(doc, f, indent=2)
    return path(name)


def hello_run(name="a.json", *extra):
    if not os.path.exists(path(name)):
        vmmu("run", "--workload", "hello", "--quiet", "--json", path(name), *extra)
    return path(name)


def moved_copy(src, name):
    """src with one slat walk reference and ten shadow exits more."""
    doc = load(os.path.basename(src))
    b = copy.deepcopy(doc)
    b["backends"]["slat"]["walks"]["refs"] += 1
    b["backends"]["shadow"]["exits"]["total"] += 10
    return save(name, b)


# The Ant JUnit schema (the one Jenkins, GitLab and GitHub reporters accept): required attributes
# and child elements of each element.
SUITE_ATTRS = ["name", "tests", "failures", "errors", "time", "timestamp", "hostname", "id",
               "package"]
CASE_ATTRS = ["name", "classname", "time"]


def check_junit(text):
    root = ET.fromstring(text)
    assert root.tag == "testsuites", root.tag
    suites = root.findall("testsuite")
    assert suites, "no testsuite"
    total_tests = total_failures = total_errors = 0
    for s in suites:
        for a in SUITE_ATTRS:
            assert a in s.attrib, f"testsuite {s.get('name')}: no attribute {a}"
        children = [c.tag for c in s]
        assert children[0] == "properties", children
        assert children[-2:] == ["system-out", "system-err"], children
        assert set(children[1:-2]) <= {"testcase"}, children
        cases = s.findall("testcase")
        assert int(s.get("tests")) == len(cases)
        failures = sum(1 for c in cases if c.find("failure") is not None)
        errors = sum(1 for c in cases if c.find("error") is not None)
        assert int(s.get("failures")) == failures, (s.get("name"), failures)
        assert int(s.get("errors")) >= min(errors, 1)
        for c in cases:
            for a in CASE_ATTRS:
                assert a in c.attrib, f"testcase {c.get('name')}: no attribute {a}"
            f = c.find("failure")
            if f is not None:
                assert "type" in f.attrib and "message" in f.attrib
        total_tests += len(cases)
        total_failures += failures
        total_errors += int(s.get("errors"))
    assert int(root.get("tests")) == total_tests
    assert int(root.get("failures")) == total_failures
    assert int(root.get("errors")) == total_errors
    return root


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
    elif isinstance(doc, list) and "items" in schema:
        for i, v in enumerate(doc):
            check_required(v, schema["items"], defs, f"{where}[{i}]")


def formats():
    a = hello_run()
    b = moved_copy(a, "b.json")
    # Nothing moved: JUnit with every testcase passing, one per backend x counter group.
    same = vmmu("compare", a, a, "--format", "junit").stdout
    root = check_junit(same)
    assert root.get("failures") == "0"
    names = {c.get("name") for c in root.iter("testcase")}
    for want in ["native.tlb", "shadow.exits", "slat.walks", "slat.cycles", "guest", "workload"]:
        assert want in names, (want, sorted(names))
    # Two values moved: exit 5, a failure in exactly the two groups, naming each value.
    p = vmmu("compare", a, b, "--format", "junit", "--output", path("moved.xml"), code=5)
    assert "2 beyond the tolerance" in p.stdout, p.stdout  # the text still on the console
    root = check_junit(open(path("moved.xml")).read())
    failed = {c.get("name"): c.find("failure") for c in root.iter("testcase")
              if c.find("failure") is not None}
    assert set(failed) == {"slat.walks", "shadow.exits"}, failed
    assert "backends.slat.walks.refs" in failed["slat.walks"].text
    assert "backends.shadow.exits.total" in failed["shadow.exits"].text
    # Markdown without and with moved values.
    md = vmmu("compare", a, a, "--format", "markdown").stdout
    assert md.startswith("## vmmu compare: pass\n"), md
    assert "**PASS**" in md and "|" not in md, md
    md = vmmu("compare", a, b, "--format", "markdown", code=5).stdout
    assert "**FAIL**: 2 values moved beyond the tolerance of 0%" in md, md
    assert "| backend | counter | old | new | delta % | |" in md
    rows = [l for l in md.splitlines() if l.startswith("| slat ")]
    assert len(rows) == 1 and "`walks.refs`" in rows[0] and "moved" in rows[0], rows
    old = load("a.json")["backends"]["slat"]["walks"]["refs"]
    assert f"| {old} | {old + 1} |" in rows[0], rows[0]
    # Within the tolerance: reported as such, not failed.
    md = vmmu("compare", a, b, "--format", "markdown", "--tolerance", "100").stdout
    assert "**PASS**" in md and "within tolerance" in md, md
    # JSON: the machine-readable diff, with what its schema requires.
    j = json.loads(vmmu("compare", a, b, "--format", "json", code=5).stdout)
    schema = json.load(open(os.path.join(SOURCE, "results", "schema",
                                         "vmmu.compare.schema.json")))
    check_required(j, schema, schema["$defs"])
    assert j["schema"] == "vmmu.compare/1" and j["verdict"] == "fail" and j["beyond"] == 2
    ch = {c["path"]: c for c in j["files"][0]["changes"]}
    assert ch["backends.slat.walks.refs"]["backend"] == "slat"
    assert ch["backends.slat.walks.refs"]["new"] == old + 1
    # Several formats at once, one file each; bad combinations are bad input.
    vmmu("compare", a, b, "--format", "junit", "--output", path("r.xml"), "--format", "markdown",
         "--output", path("r.md"), code=5)
    check_junit(open(path("r.xml")).read())
    assert open(path("r.md")).read().startswith("## vmmu compare: FAIL")
    p = vmmu("compare", a, b, "--format", "xml", code=2)
    assert "--format 'xml'" in p.stderr and "junit" in p.stderr, p.stderr
    vmmu("compare", a, b, "--format", "junit", "--format", "markdown", code=2)
    vmmu("compare", a, b, "--output", os.path.join(a, "r.xml"), code=2)  # under a file
    # The same formats on vmmu baseline check (a one-run suite).
    suite = path("suite")
    shutil.rmtree(suite, ignore_errors=True)
    os.makedirs(suite)
    with open(os.path.join(suite, "suite.json"), "w") as f:
        json.dump({"schema": "vmmu.sweep-spec/1", "workloads": [{"name": "hello"}],
                   "profiles": ["nehalem-2009"]}, f)
    vmmu("baseline", "update", "--dir", suite, "--no-progress")
    vmmu("baseline", "check", "--dir", suite, "--no-progress", "--format", "junit", "--output",
         path("suite.xml"), "--format", "markdown", "--output", path("suite.md"))
    root = check_junit(open(path("suite.xml")).read())
    assert [s.get("name") for s in root.iter("testsuite")] == ["hello.nehalem-2009"]
    assert open(path("suite.md")).read().startswith("## vmmu baseline check: pass")
    run = os.path.join(suite, "runs", "hello.nehalem-2009.json")
    doc = json.load(open(run))
    doc["backends"]["slat"]["tlb"]["l1d_misses"] += 1
    json.dump(doc, open(run, "w"))
    p = vmmu("baseline", "check", "--dir", suite, "--no-progress", "--format", "junit", code=5)
    root = check_junit(p.stdout)
    assert [c.get("name") for c in root.iter("testcase") if c.find("failure") is not None] == [
        "slat.tlb"]


def sha256(file):
    import hashlib
    return "sha256:" + hashlib.sha256(open(file, "rb").read()).hexdigest()


def provenance():
    a = hello_run()
    doc = load("a.json")
    p = doc["provenance"]
    guest = os.path.join(os.path.dirname(VMMU), "guest")
    assert p["inputs"]["kernel"] == sha256(os.path.join(guest, "kernel.elf")), p["inputs"]
    assert p["inputs"]["program/hello.elf"] == sha256(os.path.join(guest, "programs", "hello.elf"))
    assert p["inputs"]["profile/nehalem-2009"] == sha256(
        os.path.join(SOURCE, "workloads", "profiles", "nehalem-2009.json"))
    assert p["unicorn_version"] == "2.0.1", p["unicorn_version"]
    assert p["capstone_version"] and p["vmmu_version"] == vmmu("--version").stdout.split("\n")[0][5:]
    cfg = p["config"]
    assert cfg["workload"] == "hello" and cfg["profiles"]["slat"] == "nehalem-2009", cfg
    assert cfg["guest_mib"] == 1024 and cfg["oracle"] is True and p["set"] == [], cfg
    assert list(doc)[-1] == "sim", list(doc)  # sim stays last
    # Every other document carries the block too.
    vmmu("run", "--workload", "hello", "--vms", "2", "--quiet", "--json", path("multi.json"))
    m = load("multi.json")
    assert "provenance" in m and all("provenance" in v for v in m["vms"])
    walk = json.loads(vmmu("demo", "walk", "--json").stdout)
    assert walk["provenance"]["unicorn_version"] == "2.0.1"
    spec = save("spec.json", {"schema": "vmmu.sweep-spec/1", "workloads": [{"name": "hello"}]})
    vmmu("sweep", spec, "--out", path("sweep"), "--jobs", "1", "--no-progress")
    sw = json.load(open(path("sweep/sweep.json")))
    assert sw["provenance"]["inputs"]["sweep_spec"] == sha256(spec)
    assert "provenance" in sw["runs"]["hello.nehalem-2009"]["result"]
    # Same provenance: no warning. Another kernel: a warning, values still compared; with
    # --strict-provenance a failure (exit 5) in every format.
    out = vmmu("compare", a, a).stdout
    assert "provenance" not in out, out
    other = copy.deepcopy(doc)
    other["provenance"]["inputs"]["kernel"] = "sha256:" + "0" * 64
    b = save("other-kernel.json", other)
    out = vmmu("compare", a, b).stdout
    assert "warning: provenance differs: inputs.kernel" in out and "0 changed" in out, out
    out = vmmu("compare", a, b, "--strict-provenance", code=5).stdout
    assert "error: provenance differs: inputs.kernel" in out and "FAILED" in out, out
    root = check_junit(vmmu("compare", a, b, "--strict-provenance", "--format", "junit",
                            code=5).stdout)
    failed = [c for c in root.iter("testcase") if c.find("failure") is not None]
    assert [c.get("name") for c in failed] == ["provenance"], failed
    assert "inputs.kernel" in failed[0].find("failure").text
    md = vmmu("compare", a, b, "--format", "markdown").stdout
    assert "**PASS**" in md and "`inputs.kernel`" in md, md
    # vmmu's own version alone: a note, never a failure (a baseline check compares a new build).
    newer = copy.deepcopy(doc)
    newer["provenance"]["vmmu_version"] = "9.9.9 (git test)"
    c = save("newer.json", newer)
    out = vmmu("compare", a, c, "--strict-provenance").stdout
    assert "note: provenance differs: vmmu_version" in out, out
    # A document from before provenance was recorded.
    old = copy.deepcopy(doc)
    del old["provenance"]
    out = vmmu("compare", save("old.json", old), a).stdout
    assert "warning: provenance differs: provenance: (absent) -> (present)" in out, out


def set_overrides():
    a = hello_run()
    b = path("set.json")
    vmmu("run", "--workload", "hello", "--quiet", "--json", b, "--set",
         "vm_exit.round_trip.value=1200", "--set", "tlb.stlb.entries=1024")
    doc = load("set.json")
    assert doc["provenance"]["set"] == ["vm_exit.round_trip.value=1200", "tlb.stlb.entries=1024"]
    # A bigger STLB and cheaper exits: counters of the TLB and cycles move, exits never do.
    j = json.loads(vmmu("compare", a, b, "--format", "json", code=5).stdout)
    moved = {c["path"] for c in j["files"][0]["changes"]}
    assert moved and all(".exits." not in m and not m.startswith("guest.") for m in moved), moved
    assert "backends.shadow.cycles.exit" in moved
    base = load("a.json")
    for name in ["shadow", "slat"]:
        e0 = base["backends"][name]["exits"]["total"]
        assert doc["backends"][name]["exits"]["total"] == e0
        assert doc["backends"][name]["cycles"]["exit"] == e0 * 1200, name
    # Bad keys and values: exit 2 naming them, before anything runs.
    for bad, words in [("tlb.stlb.entrie=1024", ["tlb.stlb.entrie", "entries, holds_2m"]),
                       ("tlb.stlb.entries=1000", ["tlb.stlb.entries=1000", "power of two"]),
                       ("tlb.stlb.entries=big", ["must be a number"]),
                       ("core_ghz=3", ["core_ghz is a group", "source, value"]),
                       ("nothing", ["expected KEY=VALUE"])]:
        p = vmmu("run", "--workload", "hello", "--quiet", "--set", bad, code=2)
        for w in words:
            assert w in p.stderr, (bad, w, p.stderr)
    # Studies pass the overrides to their runs and use the overridden clock themselves.
    vmmu("study", "density", "--workload", "hello", "--max-vms", "2", "--set",
         "core_ghz.value=1.5", "--json", path("density.json"))
    d = load("density.json")
    assert d["provenance"]["set"] == ["core_ghz.value=1.5"] and d["results"]["slat"]["ghz"] == 1.5
    # Sweep specs take "set" axes: one run per value, named by it.
    spec = save("set-spec.json", {"schema": "vmmu.sweep-spec/1", "workloads": [{"name": "hello"}],
                                  "set": {"vm_exit.round_trip.value": [1000, 3000]}})
    vmmu("sweep", spec, "--out", path("set-sweep"), "--jobs", "2", "--no-progress")
    runs = json.load(open(path("set-sweep/sweep.json")))["runs"]
    assert len(runs) == 2, list(runs)
    by_value = {r["result"]["provenance"]["set"][0]: r["result"] for r in runs.values()}
    assert set(by_value) == {"vm_exit.round_trip.value=1000", "vm_exit.round_trip.value=3000"}
    lo = by_value["vm_exit.round_trip.value=1000"]["backends"]["shadow"]["cycles"]["exit"]
    hi = by_value["vm_exit.round_trip.value=3000"]["backends"]["shadow"]["cycles"]["exit"]
    assert hi == 3 * lo, (lo, hi)
    bad = save("bad-spec.json", {"schema": "vmmu.sweep-spec/1", "workloads": [{"name": "hello"}],
                                 "set": {"tlb.stlb.entrie": [1]}})
    p = vmmu("sweep", bad, "--out", path("bad-sweep"), "--no-progress", code=2)
    assert "tlb.stlb.entrie" in p.stderr, p.stderr


COMPARE_PY = "/usr/share/benchmark/compare.py"  # Debian libbenchmark-tools


def export():
    a = path("e1.json")
    vmmu("run", "--workload", "hello", "--quiet", "--json", a, "--export", "gbench",
         path("g1.json"), "--export", "bmf", path("b1.json"))
    vmmu("run", "--workload", "hello", "--quiet", "--set", "vm_exit.round_trip.value=1500",
         "--export", "gbench", path("g2.json"))
    doc = load("e1.json")
    g = load("g1.json")
    assert {"context", "benchmarks"} <= set(g) and g["context"]["executable"] == "vmmu"
    names = [b["name"] for b in g["benchmarks"]]
    assert names == ["hello.nehalem-2009/native", "hello.nehalem-2009/shadow",
                     "hello.nehalem-2009/slat"], names
    for b in g["benchmarks"]:
        backend = b["name"].split("/")[1]
        cyc = doc["backends"][backend]["cycles"]["total"]
        assert b["time_unit"] == "ns" and abs(b["real_time"] - cyc / 2.93) < 1e-6 * cyc, b
        assert b["walks.refs"] == doc["backends"][backend]["walks"]["refs"]
        assert b["exits.total"] == doc["backends"][backend]["exits"]["total"]
    bmf = load("b1.json")
    assert set(bmf) == set(names), bmf.keys()
    assert bmf["hello.nehalem-2009/slat"]["cycles.total"] == {
        "value": doc["backends"]["slat"]["cycles"]["total"]}
    # The real consumer: Google Benchmark's compare.py reads both and reports the difference
    # the cheaper exits make (shadow and slat faster, native unchanged).
    assert os.path.exists(COMPARE_PY), "install Debian's libbenchmark-tools (dev.sh does)"
    p = subprocess.run(["/usr/bin/python3", COMPARE_PY, "--no-color", "-d", path("cmp.json"),
                        "benchmarks", path("g1.json"), path("g2.json")],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "hello.nehalem-2009/shadow" in p.stdout, p.stdout
    diff = {r["name"]: r for r in json.load(open(path("cmp.json")))}
    assert diff["hello.nehalem-2009/native"]["measurements"][0]["time"] == 0
    exits = doc["backends"]["shadow"]["exits"]["total"]
    old = doc["backends"]["shadow"]["cycles"]["total"]
    want = -exits * 500 / old  # 2000 -> 1500 cycles per round trip
    got = diff["hello.nehalem-2009/shadow"]["measurements"][0]["time"]
    assert abs(got - want) < 1e-9, (got, want)
    # Sweeps and the baseline check export every run; a bad format is exit 2 before any run.
    spec = save("e-spec.json", {"schema": "vmmu.sweep-spec/1", "workloads": [{"name": "hello"}],
                                "profiles": ["penryn-2008", "nehalem-2009"]})
    vmmu("sweep", spec, "--out", path("e-sweep"), "--no-progress", "--export", "gbench",
         path("sweep-g.json"))
    assert len(load("sweep-g.json")["benchmarks"]) == 6
    p = vmmu("run", "--workload", "hello", "--quiet", "--export", "csv", path("x"), code=2)
    assert "--export 'csv'" in p.stderr and "gbench" in p.stderr, p.stderr
    suite = path("e-suite")
    os.makedirs(suite, exist_ok=True)
    save("e-suite/suite.json", {"schema": "vmmu.sweep-spec/1", "workloads": [{"name": "hello"}]})
    vmmu("baseline", "update", "--dir", suite, "--no-progress")
    vmmu("baseline", "check", "--dir", suite, "--no-progress", "--export", "bmf",
         path("suite-bmf.json"))
    assert set(load("suite-bmf.json")) == {"hello.nehalem-2009/" + b
                                           for b in ["native", "shadow", "slat"]}


def read_csv_text(text):
    import csv
    import io
    return list(csv.DictReader(io.StringIO(text)))


def read_csv(file):
    import csv
    with open(file, newline="") as f:
        return list(csv.DictReader(f))


def csv_export():
    # A 2 workloads x 2 profiles sweep: 4 runs x 3 backends x each run's windows (hello marks no
    # region: whole only; forkwait: whole, roi and its region) = 24 rows.
    spec = save("c-spec.json", {"schema": "vmmu.sweep-spec/1",
                                "workloads": [{"name": "hello"},
                                              {"name": "forkwait", "params": {"n": 5}}],
                                "profiles": ["penryn-2008", "nehalem-2009"]})
    vmmu("sweep", spec, "--out", path("c-sweep"), "--jobs", "2", "--no-progress")
    sweep = json.load(open(path("c-sweep/sweep.json")))
    vmmu("export", "csv", path("c-sweep/sweep.json"), "-o", path("sweep.csv"))
    rows = read_csv(path("sweep.csv"))
    expected = sum(3 * len(r["result"].get("windows", {"whole": {}})) for r in sweep["runs"].values())
    assert expected == 24 and len(rows) == expected, (len(rows), expected)
    header = list(rows[0])
    keys = ["file", "schema", "run", "vm", "window", "backend", "profile", "hypervisor",
            "guest_levels", "ept_levels", "caches", "vcpus", "measured_window"]
    assert header[:len(keys)] == keys, header
    # One column per counter: the backend block's numeric leaves and the guest's.
    one = sweep["runs"]["forkwait.n=5.penryn-2008"]["result"]
    def numeric(j, prefix=""):
        out = []
        for k, v in j.items():
            if isinstance(v, dict):
                out += numeric(v, prefix + k + ".")
            elif isinstance(v, (int, float)):
                out.append(prefix + k)
        return out
    # Each backend has details of its own: the columns are their union, first seen first.
    # (A run with windows gives its windows' counters: the whole-run window's block.)
    src = one["windows"]["whole"] if "windows" in one else one
    counters = numeric({k: v for k, v in src["guest"].items() if k != "reported"}, "guest.")
    for b in ["native", "shadow", "slat"]:
        counters += [c for c in numeric(src["backends"][b]) if c not in counters]
    assert header[len(keys):] == counters, (header[len(keys):], counters)
    assert len(header) == len(keys) + len(counters)
    row = [r for r in rows if r["run"] == "forkwait.n=5.penryn-2008" and r["backend"] == "slat"
           and r["window"] == "whole"]
    assert len(row) == 1 and row[0]["window"] == "whole" and row[0]["profile"] == "penryn-2008"
    # Settings the document leaves at their defaults are written out; forkwait marks a region.
    assert [row[0][k] for k in keys[7:]] == ["none", "4", "4", "1", "1", "roi"], row[0]
    assert int(row[0]["walks.refs"]) == src["backends"]["slat"]["walks"]["refs"]
    assert {r["run"] for r in rows} == set(sweep["runs"])
    # A multi-VM run: one row per VM x backend; a run with windows: one per window x backend.
    vmmu("run", "--workload", "hello", "--vms", "2", "--quiet", "--json", path("c-multi.json"))
    doc = load(os.path.basename(hello_run()))
    win = copy.deepcopy(doc)
    win["measure"] = "roi"
    block = {"repeats": 1, "instructions": 10, "guest": {"instructions": 10},
             "backends": {b: {k: doc["backends"][b][k] for k in
                              ["tlb", "walks", "exits", "details", "cycles"]}
                          for b in doc["backends"]}}
    win["windows"] = {"roi": block, "warmup": copy.deepcopy(block)}
    save("c-windows.json", win)
    out = vmmu("export", "csv", path("c-multi.json"), path("c-windows.json"), path("a.json")).stdout
    open(path("mixed.csv"), "w").write(out)
    rows = read_csv(path("mixed.csv"))
    assert len(rows) == 2 * 3 + 2 * 3 + 3, len(rows)
    assert [r["vm"] for r in rows[:6]] == ["0"] * 3 + ["1"] * 3
    assert sorted({r["window"] for r in rows}) == ["roi", "warmup", "whole"]
    assert [r["guest.instructions"] for r in rows if r["window"] == "roi"] == ["10"] * 3
    # Settings given on the command line reach their columns (on 2 vCPUs the kernel starts the
    # second; every scheme models vCPUs, native and ideal are the cheapest to run).
    vmmu("run", "--workload", "hello", "--hypervisor", "hyperv", "--caches", "off", "--vcpus", "2",
         "--guest-levels", "5", "--backends", "native,ideal", "--quiet", "--json",
         path("c-set.json"))
    rows = read_csv_text(vmmu("export", "csv", path("c-set.json")).stdout)
    assert {(r["hypervisor"], r["guest_levels"], r["ept_levels"], r["caches"], r["vcpus"],
             r["measured_window"]) for r in rows} == {("hyperv", "5", "4", "0", "2", "whole")}, rows
    # Bad input: a document of another kind, a missing file.
    p = vmmu("export", "csv", spec, code=2)
    assert "vmmu.sweep-spec/1 document" in p.stderr, p.stderr
    vmmu("export", "csv", path("missing.json"), code=2)
    # A known schema with a broken structure, or not an object at all: bad input naming the file.
    for i, broken in enumerate([{"schema": "vmmu.run/1"}, [1, 2],
                                {"schema": "vmmu.study.density/1", "points": [{"vms": 1}]}]):
        p = vmmu("export", "csv", save(f"broken{i}.json", broken), code=2)
        assert f"broken{i}.json" in p.stderr, p.stderr


def tolerances():
    a = hello_run()
    doc = load("a.json")
    assert doc["backends"]["native"]["exits"]["total"] == 0
    def variant(name, edit):
        d = copy.deepcopy(doc)
        edit(d)
        return save(name, d)
    def changes(*args, code):
        j = json.loads(vmmu("compare", *args, "--format", "json", code=code).stdout)
        return {c["path"]: c for c in j["files"][0]["changes"]}, j
    # Worse: one more walk reference. Better: 10 % fewer shadow cycles, more PWC hits.
    # Neither: one more guest instruction. From zero: native's first exit.
    def mixed(d):
        d["backends"]["slat"]["walks"]["refs"] += 1
        d["backends"]["shadow"]["cycles"]["total"] *= 0.9
        d["backends"]["slat"]["walks"]["pwc_hits"] += 5
    b = variant("t-mixed.json", mixed)
    ch, _ = changes(a, b, code=5)
    assert all(c["beyond"] for c in ch.values()) and len(ch) == 3, ch
    ch, j = changes(a, b, "--regressions-only", code=5)
    assert ch["backends.slat.walks.refs"]["beyond"]
    for p in ["backends.shadow.cycles.total", "backends.slat.walks.pwc_hits"]:
        assert ch[p]["improvement"] and not ch[p]["beyond"], ch[p]
    md = vmmu("compare", a, b, "--regressions-only", "--format", "markdown", code=5).stdout
    assert md.count("| improvement |") == 2 and md.count("| moved |") == 1, md
    better = variant("t-better.json", lambda d: d["backends"]["shadow"]["cycles"].update(
        total=d["backends"]["shadow"]["cycles"]["total"] * 0.9))
    vmmu("compare", a, better, "--regressions-only")
    vmmu("compare", better, a, "--regressions-only", code=5)  # the other way is a regression
    neutral = variant("t-neutral.json", lambda d: d["guest"].update(
        instructions=d["guest"]["instructions"] + 1))
    vmmu("compare", a, neutral, "--regressions-only", code=5)  # no good way: judged both ways
    # Per-counter tolerance and ignore list.
    ch, _ = changes(a, b, "--tolerance-for", "*.walks.refs=1", "--regressions-only", code=0)
    assert not ch["backends.slat.walks.refs"]["beyond"]
    ch, j = changes(a, b, "--ignore", "*.walks.*", "--ignore", "*.cycles.*", code=0)
    assert ch == {} and j["files"][0]["ignored"] > 10, j["files"][0]
    # The absolute floor: 0 -> 1 is +inf %, and a move of 1.
    first = variant("t-first.json", lambda d: d["backends"]["native"]["exits"].update(total=1))
    out = vmmu("compare", a, first, code=5).stdout
    assert "+inf" in out, out
    vmmu("compare", a, first, "--floor", "1")
    vmmu("compare", a, first, "--floor", "0.5", code=5)
    # The same policy from a file; flags given as well come after it.
    tol = save("tol.json", {"schema": "vmmu.tolerance/1", "tolerance": 0, "floor": 1,
                            "regressions_only": True, "counters": {"*.walks.refs": 0.1},
                            "ignore": ["*.details.*"]})
    vmmu("compare", a, b, "--tolerance-file", tol)
    vmmu("compare", a, first, "--tolerance-file", tol)
    vmmu("compare", a, b, "--tolerance-file", tol, "--floor", "0", "--tolerance-for",
         "*.walks.refs=0", code=5)
    # Bad policies: exit 2 naming the problem.
    for args, words in [(["--tolerance-for", "*.walks.refs"], ["PATTERN=PCT"]),
                        (["--tolerance-for", "x=-1"], ["x=-1"]),
                        (["--floor", "-2"], ["--floor -2"]),
                        (["--tolerance-file", save("bad-tol.json", {"tolerances": {}})],
                         ["unknown key \"tolerances\""]),
                        (["--tolerance-file", path("none.json")], ["no such file"])]:
        p = vmmu("compare", a, b, *args, code=2)
        for w in words:
            assert w in p.stderr, (args, w, p.stderr)
    # baseline check takes the same options.
    suite = path("t-suite")
    os.makedirs(suite, exist_ok=True)
    save("t-suite/suite.json", {"schema": "vmmu.sweep-spec/1", "workloads": [{"name": "hello"}]})
    vmmu("baseline", "update", "--dir", suite, "--no-progress")
    run = os.path.join(suite, "runs", "hello.nehalem-2009.json")
    d = json.load(open(run))
    d["backends"]["slat"]["cycles"]["total"] *= 1.1  # the baseline was slower: now an improvement
    json.dump(d, open(run, "w"))
    vmmu("baseline", "check", "--dir", suite, "--no-progress", code=5)
    vmmu("baseline", "check", "--dir", suite, "--no-progress", "--regressions-only")


def workflows():
    import yaml  # Debian python3-yaml
    gh = yaml.safe_load(open(os.path.join(SOURCE, "docs", "ci", "github-actions.yml")))
    gl = yaml.safe_load(open(os.path.join(SOURCE, "docs", "ci", "gitlab-ci.yml")))
    steps = gh["jobs"]["mmu-numbers"]["steps"]
    scripts = [s["run"] for s in steps if "run" in s] + gl["vmmu-baseline"]["script"]
    commands = sorted({line.strip() for text in scripts for line in text.splitlines()
                       if line.strip().startswith("build/vmmu ")})
    assert commands, scripts
    # Files the later steps read: the step summary, the JUnit reporters, the dashboard, artifacts.
    wanted = {"vmmu-summary.md", "vmmu-junit.xml", "vmmu-gbench.json", "vmmu-bmf.json"}
    used = set()
    for s in steps:
        w = s.get("with", {})
        used |= {w.get("report_paths"), w.get("output-file-path")}
        used |= set(str(w.get("path", "")).split())
    used |= {gl["vmmu-baseline"]["artifacts"]["reports"]["junit"],
             *gl["vmmu-baseline"]["artifacts"]["paths"]}
    assert wanted <= used, used
    for c in commands:
        words = c.split()
        # The subcommand exists (vmmu help fails on an unknown one)...
        sub = [w for w in words[1:3] if not w.startswith("-")]
        vmmu("help", *sub)
        # ...and the command runs here, from a checkout's subdirectory, as CI runs it.
        p = subprocess.run([VMMU] + words[1:], cwd=WORK, capture_output=True, text=True)
        assert p.returncode == 0, (c, p.returncode, p.stdout[-2000:], p.stderr[-2000:])
    for f in wanted:
        assert os.path.getsize(path(f)) > 0, f
    root = check_junit(open(path("vmmu-junit.xml")).read())
    suite = json.load(open(os.path.join(SOURCE, "results", "baselines", "suite.json")))
    runs = len(suite["workloads"]) * len(suite["profiles"])
    assert len(root.findall("testsuite")) == runs
    assert open(path("vmmu-summary.md")).read().startswith("## vmmu baseline check: pass")
    assert len(load("vmmu-gbench.json")["benchmarks"]) == 3 * runs
    assert len(load("vmmu-bmf.json")) == 3 * runs


SECTIONS = {"workflows": workflows, "tolerances": tolerances, "csv": csv_export, "export": export, "formats": formats, "provenance": provenance, "set": set_overrides}

if __name__ == "__main__":
    # Documents of an earlier build would carry its version: start empty.
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    SECTIONS[SECTION]()
    print(f"ci {SECTION}: ok")
