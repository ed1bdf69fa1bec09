#!/usr/bin/python3
"""Turns vmmu JSON documents into one self-contained HTML report (charts embedded as PNG).

Reads four schemas: vmmu.run/1 (`vmmu run --json`), vmmu.study.scaling/1 (`vmmu study scaling
--json/--out`), vmmu.study.density/1 (`vmmu study density --json`, with or without --dedup) and
vmmu.sweep/1 (`vmmu sweep`: one chart per counter across the grid). For a study, the run files
it names are read too when they exist next to it. The report opens with a summary: each
document's headline result, what was run and its configuration; the details follow. Needs matplotlib (Debian: python3-matplotlib); `vmmu report` runs it with
/usr/bin/python3, which has it, whatever python3 comes first on PATH.

    vmmu report results/latest/study.json -o results/latest/report.html
"""
import argparse
import base64
import html
import io
import json
import os
import re
import sys

import matplotlib

matplotlib.use("Agg")  # no display: render to memory only
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

RUN_SCHEMA = "vmmu.run/1"
STUDY_SCHEMA = "vmmu.study.scaling/1"
DENSITY_SCHEMA = "vmmu.study.density/1"
SWEEP_SCHEMA = "vmmu.sweep/1"
SCHEMAS = (RUN_SCHEMA, STUDY_SCHEMA, DENSITY_SCHEMA, SWEEP_SCHEMA)
# Counters a sweep is charted by: (chart name, label, value of one backend's result).
SWEEP_COUNTERS = [
    ("cycles", "modelled cycles (M)", lambda b: b["cycles"]["total"] / 1e6),
    ("exits", "VM exits", lambda b: b["exits"]["total"]),
    ("walkrefs", "page-walk references", lambda b: b["walks"]["refs"]),
    ("stlb", "STLB misses", lambda b: b["tlb"]["stlb_misses"]),
]
# Notes for developers in a source string ("(TODO ...)" and the like) never reach a reader.
IMPLEMENTATION_NOTE = re.compile(r"\s*\((?:issue|TODO|FIXME|XXX)\b[^)]*\)", re.IGNORECASE)
PARTS = ["base", "walk", "exit", "handler"]
PART_COLOURS = {"base": "#9aa5b1", "walk": "#3e7cb1", "exit": "#e07a1f", "handler": "#c03a2b"}
LEVELS = ["l1", "l2", "llc", "memory"]
LEVEL_COLOURS = {"l1": "#4c956c", "l2": "#9ccc65", "llc": "#e0b01f", "memory": "#c03a2b"}
BACKEND_COLOURS = {"native": "#4c956c", "shadow": "#c03a2b", "slat": "#3e7cb1"}


def colour(name):
    return BACKEND_COLOURS.get(name, "#777777")


def esc(x):
    return html.escape(IMPLEMENTATION_NOTE.sub("", str(x)))


def fmt_cell(v):
    """A table cell as the console would print it: yes/no, millions for large numbers."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if v is None:
        return "-"
    return fmt_num(v)


class Report:
    def __init__(self, title):
        self.title = title
        self.parts = []
        self.summary = []  # (heading, [lines]) per document, shown before the details
        self.charts = 0

    def summarise(self, heading, lines):
        self.summary.append((heading, [line for line in lines if line]))

    def heading(self, text, level=2):
        self.parts.append(f"<h{level}>{esc(text)}</h{level}>")

    def para(self, text):
        self.parts.append(f"<p>{esc(text)}</p>")

    def raw(self, text):
        self.parts.append(text)

    def figure(self, fig, name, caption):
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
        plt.close(fig)
        data = base64.b64encode(buf.getvalue()).decode("ascii")
        self.charts += 1
        self.parts.append(
            f'<figure><img class="chart" data-chart="{esc(name)}" alt="{esc(caption)}" '
            f'src="data:image/png;base64,{data}"><figcaption>{esc(caption)}</figcaption></figure>')

    def table(self, header, rows):
        out = ["<table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr>"]
        for r in rows:
            out.append("<tr>" + "".join(f"<td>{esc(fmt_cell(c))}</td>" for c in r) + "</tr>")
        out.append("</table>")
        self.parts.append("\n".join(out))

    def html(self):
        style = ("body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}"
                 "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;"
                 "padding:2px 8px;text-align:right}th{background:#eee}img.chart{max-width:100%}"
                 "figure{display:inline-block;margin:.5em}figcaption{font-size:90%;color:#444}")
        summary = []
        if self.summary:
            summary.append("<section id='summary'><h2>Summary</h2>")
            for heading, lines in self.summary:
                summary.append(f"<h3>{esc(heading)}</h3><ul>"
                               + "".join(f"<li>{esc(line)}</li>" for line in lines) + "</ul>")
            summary.append("</section><h2>Details</h2>")
        body = "\n".join(summary + self.parts)
        return (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{esc(self.title)}"
                f"</title><style>{style}</style></head><body>\n<h1>{esc(self.title)}</h1>\n"
                f"{body}\n</body></html>\n")


def fmt_num(v):
    """Numbers as the console prints them: large ones in millions (M), ratios to 3 digits."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, float) and abs(v) >= 1e5:
        return f"{v / 1e6:.3f} M"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def fmt_config(cfg):
    """A run's or study's config block as "key value" phrases, booleans as on/off."""
    def value(v):
        if isinstance(v, bool):
            return "on" if v else "off"
        if isinstance(v, list):
            return ", ".join(value(x) for x in v) or "none"
        if isinstance(v, dict):
            if "name" in v:  # a profile record: its name, and its file when it came from one
                return v["name"] + (f" (file {v['path']})" if v.get("path") else "")
            return ", ".join(f"{a}: {value(b)}" for a, b in v.items()) or "none"
        return fmt_num(v)

    return "; ".join(f"{k.replace('_', ' ')} {value(v)}" for k, v in cfg.items())


def run_label(run):
    w = run["workload"]
    params = " ".join(f"{k}={v}" for k, v in sorted(w.get("params", {}).items()))
    return f"{w['name']} {params}".strip()


def add_run(rep, run, prefix, summarise=True):
    """Charts and tables of one vmmu.run/1 document."""
    names = list(run["backends"].keys())
    label = run_label(run)
    rep.heading(f"Run: {label}", 3)
    g = run["guest"]
    if summarise:
        mb = measured_backends(run)
        total = {n: mb[n]["cycles"]["total"] for n in names}
        base = total.get("native")
        head = ", ".join(f"{n} {total[n] / 1e6:.2f} M cycles"
                         + (f" ({total[n] / base:#.3g}x native)" if base and n != "native" else "")
                         for n in names)
        window = run.get("measured_window", "whole")
        rep.summarise(f"Run: {label}", [
            f"headline (window {window}): {head or 'no backend attached'}",
            f"what ran: {label}, status {run['status']}, {g['instructions']} guest instructions",
            f"configuration: {fmt_config(run.get('config', {}))}"])
    rep.para(f"status {run['status']}, checksum {run['workload'].get('checksum')}, "
             f"{g['instructions']} guest instructions, {g['page_faults']} page faults, "
             f"{g['context_switches']} context switches")
    if not names:
        rep.para("no backend attached: nothing to chart")
        return

    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    bottom = [0.0] * len(names)
    for part in PARTS:
        vals = [run["backends"][n]["cycles"][part] / 1e6 for n in names]
        ax.bar(names, vals, bottom=bottom, label=part, color=PART_COLOURS[part])
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax.set_ylabel("modelled cycles (M)")
    ax.set_title("cycles by part")
    ax.legend(fontsize=8)
    rep.figure(fig, f"{prefix}cycles", f"{label}: modelled cycles per backend, stacked by part")

    reasons = list(next(iter(run["backends"].values()))["exits"]["by_reason"].keys())
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    width = 0.8 / len(names)
    for i, n in enumerate(names):
        vals = [run["backends"][n]["exits"]["by_reason"][r] for r in reasons]
        ax.bar([x + i * width for x in range(len(reasons))], vals, width, label=n, color=colour(n))
    ax.set_xticks([x + width * (len(names) - 1) / 2 for x in range(len(reasons))])
    ax.set_xticklabels(reasons, rotation=40, ha="right", fontsize=8)
    ax.set_ylabel("VM exits")
    ax.set_title("exits by reason")
    ax.legend(fontsize=8)
    rep.figure(fig, f"{prefix}exits", f"{label}: VM exits by reason")

    fig, ax = plt.subplots(figsize=(4.5, 3.4))
    vals = [run["backends"][n]["walks"]["refs_per_walk"] for n in names]
    maxes = [run["backends"][n]["walks"]["max_refs_per_walk"] for n in names]
    ax.bar(names, vals, color=[colour(n) for n in names], label="mean")
    ax.plot(names, maxes, "k_", markersize=30, label="max")
    ax.set_ylabel("memory references per walk")
    ax.set_title("walk references per walk")
    ax.legend(fontsize=8)
    rep.figure(fig, f"{prefix}walkrefs", f"{label}: page-walk memory references per walk")

    modelled = [n for n in names if run["backends"][n].get("caches", {}).get("modelled")]
    if modelled:
        fig, ax = plt.subplots(figsize=(5.5, 3.4))
        bottom = [0.0] * len(modelled)
        for level in LEVELS:
            vals = []
            for n in modelled:
                b = run["backends"][n]
                walks = b["walks"]["count"]
                vals.append(b["caches"]["walk_refs"][level] / walks if walks else 0.0)
            ax.bar(modelled, vals, bottom=bottom, label=level, color=LEVEL_COLOURS[level])
            bottom = [b + v for b, v in zip(bottom, vals)]
        ax.set_ylabel("memory references per walk")
        ax.set_title("where walk references hit")
        ax.legend(fontsize=8)
        rep.figure(fig, f"{prefix}walkcaches",
                   f"{label}: page-walk references per walk, stacked by the cache level that "
                   "served them")

    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    kinds = [("l1d", "l1d_misses", "l1d_lookups"), ("l1i", "l1i_misses", "l1i_lookups"),
             ("stlb", "stlb_misses", "stlb_lookups")]
    width = 0.8 / len(names)
    for i, n in enumerate(names):
        t = run["backends"][n]["tlb"]
        vals = [100.0 * t[m] / t[l] if t[l] else 0.0 for _, m, l in kinds]
        ax.bar([x + i * width for x in range(len(kinds))], vals, width, label=n, color=colour(n))
    ax.set_xticks([x + width * (len(names) - 1) / 2 for x in range(len(kinds))])
    ax.set_xticklabels([k for k, _, _ in kinds])
    ax.set_ylabel("miss rate (%)")
    ax.set_title("TLB miss rates")
    ax.legend(fontsize=8)
    rep.figure(fig, f"{prefix}tlb", f"{label}: TLB miss rates per level")

    rows = []
    for key, get in [
        ("cycles total (M)", lambda b: f"{b['cycles']['total'] / 1e6:.2f}"),
        *[(f"cycles {p} (M)", (lambda p: lambda b: f"{b['cycles'][p] / 1e6:.2f}")(p))
          for p in PARTS],
        ("VM exits", lambda b: b["exits"]["total"]),
        ("page walks", lambda b: b["walks"]["count"]),
        ("walk refs", lambda b: b["walks"]["refs"]),
        ("refs per walk", lambda b: b["walks"]["refs_per_walk"]),
        *[(f"walk refs in {lv}",
           (lambda lv: lambda b: b.get("caches", {}).get("walk_refs", {}).get(lv, "-"))(lv))
          for lv in LEVELS],
        ("walk cycles per walk",
         lambda b: b.get("caches", {}).get("walk_cycles_per_walk", {}).get("all", "-")),
        ("data misses by walks",
         lambda b: sum(b["caches"]["data_misses_from_walks"].values())
         if b.get("caches", {}).get("modelled") else "-"),
        ("dTLB misses", lambda b: b["tlb"]["l1d_misses"]),
        ("iTLB misses", lambda b: b["tlb"]["l1i_misses"]),
        ("STLB misses", lambda b: b["tlb"]["stlb_misses"]),
        ("profile", lambda b: b.get("profile", "")),
    ]:
        rows.append([key] + [fmt_num(get(run["backends"][n])) for n in names])
    rep.table(["counter"] + names, rows)
    add_windows(rep, run, names, label, prefix)


def region_spans(run):
    """(name, begin, end) of every region repeat the document lists."""
    spans = []
    for name, w in run.get("windows", {}).items():
        for b, e in w.get("spans", []):
            spans.append((name, b, e))
    return spans


def add_windows(rep, run, names, label, prefix):
    """The windows table and, with --interval, the time series (README.md, "Windows")."""
    windows = run.get("windows")
    if not windows:
        return
    measured = run.get("measured_window", "whole")
    rep.para(f"windows (the table above is the whole run; --measure {run.get('measure')} "
             f"selects {measured}, warm-up {run.get('warmup', 0)} instructions)")
    rows = []
    for wname, w in windows.items():
        rows.append([wname + (" (measured)" if wname == measured else ""), w["repeats"],
                     w["instructions"]]
                    + [f"{w['backends'][n]['cycles']['total'] / 1e6:.2f}" for n in names]
                    + [w["backends"][n]["exits"]["total"] for n in names])
    rep.table(["window", "repeats", "instructions"] + [f"{n} cycles (M)" for n in names]
              + [f"{n} exits" for n in names], rows)
    series = run.get("intervals")
    if not series or not series.get("points"):
        return
    points = series["points"]
    mids = [(p["start"] + p["end"]) / 2 / 1e6 for p in points]
    spans = region_spans(run)

    def shade(ax):
        for _, b, e in spans:
            ax.axvspan(b / 1e6, e / 1e6, color="#ddd", zorder=0)

    fig, ax = plt.subplots(figsize=(7, 3.4))
    shade(ax)
    for n in names:
        cpi = [p["backends"][n]["cycles"] / max(p["guest"]["instructions"], 1) for p in points]
        ax.plot(mids, cpi, marker=".", label=n, color=colour(n))
    ax.set_xlabel("guest instructions (M)")
    ax.set_ylabel("modelled cycles per instruction")
    ax.set_title(f"cycles per guest instruction, every {series['period']} instructions")
    ax.legend(fontsize=8)
    rep.figure(fig, f"{prefix}interval_cpi",
               f"{label}: cycles per guest instruction over time per backend (regions shaded)")

    for n in names:
        reasons = sorted({r for p in points for r in p["backends"][n]["exits_by_reason"]})
        if not reasons:
            continue
        fig, ax = plt.subplots(figsize=(7, 3.4))
        shade(ax)
        for r in reasons:
            ax.plot(mids, [p["backends"][n]["exits_by_reason"].get(r, 0) for p in points],
                    marker=".", label=r)
        ax.set_xlabel("guest instructions (M)")
        ax.set_ylabel("VM exits per interval")
        ax.set_title(f"{n}: exits over time by reason")
        ax.legend(fontsize=8)
        rep.figure(fig, f"{prefix}interval_exits_{n}",
                   f"{label}: {n} VM exits per interval by reason (regions shaded)")


def add_study(rep, study, base_dir):
    rep.heading("Scaling study: sessions per host")
    cap = study["capacity"]
    model = study["capacity_model"]
    names = list(cap.keys())
    points = [p for p in study["points"] if p["status"] == "ok"]
    util = model["utilisation"]["value"]
    ratio = study["ratio"].get("slat/shadow")
    cfg = study.get("config", {})
    rep.summarise("Scaling study: sessions per host", [
        "headline: " + (f"slat sustains {ratio:#.3g}x the sessions shadow does "
                        f"({study['ratio']['verdict']}; published "
                        f"{study['ratio']['published_band'][0]}-"
                        f"{study['ratio']['published_band'][1]}x)" if ratio is not None
                        else "slat/shadow not measured (needs both backends)") + "; "
        + ", ".join(f"{n} {cap[n]['sessions']} sessions" for n in names
                    if cap[n].get("sessions") is not None),
        f"what ran: the sessions workload at K = {', '.join(str(p['sessions']) for p in study['points'])}"
        f" ({len(points)} finished), status {study['status']}",
        f"configuration: {fmt_config(cfg)}" if cfg else ""])
    rep.para(f"status {study['status']}. Capacity model: {model['formula']}; "
             f"{model['interpolation']}.")
    rep.table(["constant", "value", "source"],
              [["cores", model["cores"]["value"], model["cores"]["source"]],
               ["utilisation", util, model["utilisation"]["source"]],
               ["actions/s per user", model["actions_per_sec"]["value"],
                model["actions_per_sec"]["source"]],
               ["GHz", ", ".join(f"{n} {g:.2f}" for n, g in model["ghz"]["per_backend"].items()),
                model["ghz"]["source"]]])
    if not points:
        rep.para("no finished run: nothing to chart")
        return

    ks = [p["sessions"] for p in points]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for n in names:
        share = [100.0 * p["backends"][n]["host_cpu_share"] for p in points]
        ax.plot(ks, share, "o-", label=n, color=colour(n))
        c = cap[n]
        if c.get("extrapolated") and share:
            # Beyond the last K cycles/action are held constant: demand grows linearly.
            kx = c["crossing"]
            xs = [ks[-1] + (kx - ks[-1]) * i / 40 for i in range(41)]
            ax.plot(xs, [share[-1] * x / ks[-1] for x in xs], "--", color=colour(n))
    ax.axhline(100.0 * util, color="black", linestyle=":", label=f"capacity ({util:.0%} of host)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("concurrent sessions K")
    ax.set_ylabel("host CPU needed (% of all cores)")
    ax.set_title("sessions vs host CPU (dashed: extrapolated)")
    ax.legend(fontsize=8)
    rep.figure(fig, "study_curves", "host CPU needed by K sessions, per backend, with the "
                                    "capacity line")

    fig, ax = plt.subplots(figsize=(6, 3.6))
    sessions = [cap[n]["sessions"] or 0 for n in names]
    ax.bar(names, sessions, color=[colour(n) for n in names])
    ax.set_ylabel("sustainable sessions")
    ratio = study["ratio"].get("slat/shadow")
    lo, hi = study["ratio"]["published_band"]
    if ratio is not None and "shadow" in cap and cap["shadow"]["sessions"]:
        sh = cap["shadow"]["crossing"]
        ax.axhspan(lo * sh, hi * sh, color="#3e7cb1", alpha=0.15,
                   label=f"published slat band ({lo}-{hi}x shadow)")
        ax.legend(fontsize=8)
        ax.set_title(f"sessions sustained: slat/shadow {ratio:#.3g}x")
    rep.figure(fig, "study_capacity", "largest K each backend sustains, with the published "
                                      "1.6-2.5x band over shadow")

    if "slat" in names and "shadow" in names:
        fig, ax = plt.subplots(figsize=(6, 3.6))
        r = [p["backends"]["shadow"]["cycles_per_action"] / p["backends"]["slat"]["cycles_per_action"]
             for p in points]
        ax.plot(ks, r, "o-", color="#3e7cb1", label="shadow/slat cycles per action")
        ax.axhspan(lo, hi, color="#3e7cb1", alpha=0.15, label=f"published {lo}-{hi}x")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("concurrent sessions K")
        ax.set_ylabel("ratio")
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=8)
        ax.set_title("per-K cost ratio vs the published band")
        rep.figure(fig, "study_ratio", "shadow/slat cycles per session-action at each K")

    rows = []
    for p in study["points"]:
        if p["status"] != "ok":
            rows.append([p["sessions"], "failed: " + p.get("failure", "")] + [""] * (3 * len(names)))
            continue
        row = [p["sessions"], p["actions"]]
        for n in names:
            b = p["backends"][n]
            row += [f"{b['cycles_per_action'] / 1e6:.3f}", fmt_num(b["exits_per_action"]),
                    f"{100 * b['host_cpu_share']:.2f}%"]
        rows.append(row)
    header = ["K", "actions"]
    for n in names:
        header += [f"{n} cycles/action (M)", f"{n} exits/action", f"{n} host CPU"]
    rep.table(header, rows)
    rep.table(["backend", "profile", "GHz", "sessions", "crossing", "extrapolated"],
              [[n, cap[n].get("profile"), cap[n].get("ghz"), cap[n].get("sessions"),
                fmt_num(cap[n].get("crossing", 0)), cap[n].get("extrapolated")] for n in names])
    rep.para(f"slat/shadow sessions = {f'{ratio:#.3g}x' if ratio is not None else 'n/a'} "
             f"({study['ratio']['verdict']}); {study['ratio']['source']}")

    if "sensitivity" in study:
        add_sensitivity(rep, study["sensitivity"])

    runs = []
    for p in study["points"]:
        f = p.get("run_file")
        if not f:
            continue
        path = f if os.path.isabs(f) else os.path.join(base_dir, f)  # relative to --out
        if os.path.exists(path):
            with open(path) as fh:
                runs.append(json.load(fh))
    if runs:
        rep.heading("Runs of the study")
        for i, run in enumerate(runs):
            add_run(rep, run, f"study_run{i}_", summarise=False)


def add_sensitivity(rep, sens):
    """The ratio over the study's uncertain assumptions: one heat map per think time (work per
    launch across, working set up, A = 10), cells inside the published band outlined, and the
    ratio against A for every grid point."""
    rep.heading("Sensitivity: where the published band lies", 3)
    axes = sens["axes"]
    lo, hi = sens["published_band"]
    bus, wss, tts, aps = (axes["burst_updates"], axes["ws_mib"], axes["think_ticks"],
                          axes["actions_per_sec"])
    a_mid = 10.0 if 10.0 in aps else aps[len(aps) // 2]

    def ratio(bu, ws, tt, a):
        for p in sens["points"]:
            if (p["burst_updates"], p["ws_mib"], p["think_ticks"], p["actions_per_sec"]) == \
                    (bu, ws, tt, a):
                return p["slat/shadow"]
        return None

    fig, axs = plt.subplots(1, len(tts), figsize=(4.2 * len(tts), 3.6), squeeze=False)
    vals = [p["slat/shadow"] for p in sens["points"] if p["slat/shadow"] is not None]
    vmin, vmax = (min(vals + [lo]), max(vals + [hi])) if vals else (lo, hi)
    for ax, tt in zip(axs[0], tts):
        grid = [[ratio(bu, ws, tt, a_mid) for bu in bus] for ws in wss]
        shown = [[v if v is not None else float("nan") for v in row] for row in grid]
        im = ax.imshow(shown, origin="lower", cmap="viridis", vmin=vmin, vmax=vmax,
                       aspect="auto")
        for i, row in enumerate(grid):
            for j, v in enumerate(row):
                if v is None:
                    continue
                inside = lo <= v <= hi
                ax.text(j, i, f"{v:.2f}x", ha="center", va="center", fontsize=8,
                        color="black" if inside else "white",
                        bbox=dict(facecolor="white", edgecolor="red") if inside else None)
        ax.set_xticks(range(len(bus)), [str(b) for b in bus])
        ax.set_yticks(range(len(wss)), [str(w) for w in wss])
        ax.set_xlabel("work per launch (burst_updates)")
        ax.set_ylabel("working set (ws_mib)")
        ax.set_title(f"think_ticks {tt}, A = {a_mid:g}/s")
    fig.colorbar(im, ax=axs[0].tolist(), label="slat/shadow sessions")
    rep.figure(fig, "study_sensitivity",
               f"slat/shadow sustained sessions over the study's assumptions at K = "
               f"{sens['sessions']}; outlined cells lie in the published {lo}-{hi}x band")

    fig, ax = plt.subplots(figsize=(6, 3.6))
    for bu in bus:
        for ws in wss:
            ys = [ratio(bu, ws, tts[0], a) for a in aps]
            if all(y is not None for y in ys):
                ax.plot(aps, ys, "o-", label=f"bu {bu}, ws {ws}")
    ax.axhspan(lo, hi, color="#3e7cb1", alpha=0.15, label=f"published {lo}-{hi}x")
    ax.set_xlabel("actions per second per user (A)")
    ax.set_ylabel("slat/shadow sessions")
    ax.legend(fontsize=6, ncol=2)
    rep.figure(fig, "study_sensitivity_a", "the ratio against A, per (work, working set)")
    rep.para(f"{sens['in_band']} of {sens['measured']} grid points lie in the published band. "
             f"{sens['what']}.")


def add_density(rep, study, prefix):
    """Charts and tables of one vmmu.study.density/1 document."""
    cfg = study["config"]
    dedup = cfg.get("dedup")
    names = list(study["results"].keys())
    rep.heading("Density study: VMs per host")
    params = " ".join(cfg.get("params", []))
    rep.summarise("Density study: VMs per host", [
        "headline: " + ", ".join(f"{n} {r['vms']} VMs ({r['bound']}-bound)"
                                 for n, r in study["results"].items()),
        f"what ran: {cfg['workload']} {params}, 1 to {len(study['points'])} VMs",
        f"configuration: host {cfg['host_mib']['value']} MiB, {cfg['cores']['value']} cores, "
        + ("deduplication on" if dedup else "no deduplication")])
    rep.para(f"workload {cfg['workload']} {params}, host {cfg['host_mib']['value']} MiB, "
             f"{cfg['cores']['value']} cores at {cfg['utilisation']['value']:.0%}, "
             f"{cfg['jobs_per_sec']['value']} jobs/s per VM"
             + (f"; deduplication every {dedup['period']} instructions, "
                f"{dedup['pages_per_pass']} pages a pass (scan cycles: "
                f"{dedup['scan_cycles_basis']})" if dedup else "; no deduplication"))
    if not names:
        rep.para("no backend measured: nothing to chart")
        return
    plain = study.get("without_dedup")
    # Series: (label, points, results); the asked one first.
    series = [("with dedup" if dedup else "no dedup", study["points"], study["results"])]
    if plain:
        series.append(("no dedup", plain["points"], plain["results"]))

    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    width = 0.8 / len(series)
    for i, (label, _, results) in enumerate(series):
        xs = [x + i * width for x in range(len(names))]
        vals = [results[n]["vms"] if n in results else 0 for n in names]
        bars = ax.bar(xs, vals, width, color=[colour(n) for n in names],
                      alpha=1.0 if i == 0 else 0.45, hatch=None if i == 0 else "//",
                      edgecolor="black", label=label)
        for b, n in zip(bars, names):
            if n in results:
                ax.annotate(f"{results[n]['vms']} ({results[n]['bound']})",
                            (b.get_x() + b.get_width() / 2, b.get_height()),
                            ha="center", va="bottom", fontsize=7)
    ax.set_xticks([x + width * (len(series) - 1) / 2 for x in range(len(names))])
    ax.set_xticklabels(names)
    ax.set_ylabel("VMs sustained")
    ax.set_title("VMs per host (limit in brackets)")
    ax.legend(fontsize=8)
    rep.figure(fig, f"{prefix}vms", "VMs each backend sustains, with and without deduplication, "
                                   "and the resource that limits it")

    def lines_vs_vms(value, limit, limit_label, ylabel, title, name, caption,
                     needs_results=False):
        """One line per backend and series: value(backend, point, results) against VMs."""
        fig, ax = plt.subplots(figsize=(6.5, 3.8))
        for label, points, results in series:
            style = "o-" if label != "no dedup" or not dedup else "s--"
            for n in names:
                if needs_results and n not in results:
                    continue
                pts = [p for p in points if n in p["backends"]]
                ax.plot([p["vms"] for p in pts], [value(n, p, results) for p in pts], style,
                        color=colour(n), label=f"{n}, {label}")
        ax.axhline(limit, color="black", linestyle=":", label=limit_label)
        ax.set_xlabel("VMs")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.legend(fontsize=7)
        rep.figure(fig, f"{prefix}{name}", caption)

    host_mib = cfg["host_mib"]["value"]
    lines_vs_vms(lambda n, p, r: p["backends"][n]["host_bytes"] / 2**20, host_mib,
                 f"host memory ({host_mib} MiB)", "host memory held (MiB)", "host memory vs VMs",
                 "memory", "host memory the VMs hold (guest frames after sharing plus EPT or "
                 "shadow pages) at each measured N")

    util = cfg["utilisation"]["value"]

    def cpu_percent(n, p, results):
        cap = util * cfg["cores"]["value"] * results[n]["ghz"] * 1e9
        return 100.0 * util * p["backends"][n]["demand_cycles_per_sec"] / cap

    lines_vs_vms(cpu_percent, 100.0 * util, f"capacity ({util:.0%})",
                 "host CPU needed (% of all cores)", "host CPU vs VMs (scan cycles included)",
                 "cpu", "host CPU the VMs demand at each measured N, with the capacity line",
                 needs_results=True)

    header = ["backend", "VMs", "bound", "cpu VMs", "memory VMs"]
    if dedup:
        header += ["VMs w/o dedup", "bound w/o dedup", "saved MiB", "scan Mcycles", "scan share"]
    rows = []
    for n in names:
        r = study["results"][n]
        row = [n, r["vms"], r["bound"], r["cpu_vms"], r["memory_vms"]]
        if dedup:
            row += [r.get("vms_without_dedup", "-"), r.get("bound_without_dedup", "-"),
                    f"{r['bytes_saved'] / 2**20:.2f}", f"{r['scan_cycles'] / 1e6:.2f}",
                    f"{100 * r['scan_share_of_cycles']:.1f}%"]
        rows.append(row)
    rep.table(header, rows)


def sweep_label(name, entry):
    """A run of the grid by what distinguishes it: workload, parameters, profile and flags."""
    args = entry.get("args", [])
    words, i = [], 0
    while i < len(args):
        if args[i] in ("--workload", "--param", "--profile") and i + 1 < len(args):
            words.append(args[i + 1])
            i += 2
        else:
            words.append(args[i])
            i += 1
    return " ".join(words) or name


def measured_backends(run):
    """The backends of the window the run measured (--measure; README.md, "Windows")."""
    w = run.get("windows", {}).get(run.get("measured_window", ""))
    return w["backends"] if w else run["backends"]


def add_sweep(rep, sweep, prefix):
    """One chart per counter across the grid, each backend a bar per run; then the table."""
    runs = sweep["runs"]
    flag_sets = sorted({" ".join(a for a in e.get("args", [])[e.get("args", []).index("--profile") + 2:])
                        if "--profile" in e.get("args", []) else "" for e in runs.values()})
    flags_text = "; ".join(f or "(none)" for f in flag_sets)
    title = (f"Sweep: {sweep.get('description') or 'grid'} (flags: {flags_text}; each run on "
             f"its measured window)")
    rep.heading(title)
    done = [(n, e) for n, e in runs.items() if e.get("result")]
    rep.summarise(title, [
        f"headline: {len(runs)} run{'s' if len(runs) != 1 else ''} of a "
        f"{sweep['grid_runs']}-run grid (shard "
        f"{sweep['shard']}), {sweep['failed']} failed",
        "what ran: " + ", ".join(sorted({e["result"]["workload"]["name"] for _, e in done})),
        f"configuration: flag sets {flags_text}"])
    if not done:
        rep.para("no run finished: nothing to chart")
        return
    names = []
    for _, e in done:
        for b in e["result"]["backends"]:
            if b not in names:
                names.append(b)
    labels = [sweep_label(n, e) for n, e in done]
    for key, ylabel, value in SWEEP_COUNTERS:
        fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(done) + 2), 3.8))
        width = 0.8 / max(1, len(names))
        for i, b in enumerate(names):
            vals = [value(measured_backends(e["result"])[b])
                    if b in measured_backends(e["result"]) else 0 for _, e in done]
            ax.bar([x + i * width for x in range(len(done))], vals, width, label=b,
                   color=colour(b))
        ax.set_xticks([x + width * (len(names) - 1) / 2 for x in range(len(done))])
        ax.set_xticklabels(labels, rotation=35, ha="right", fontsize=7)
        ax.set_ylabel(ylabel)
        ax.set_title(f"{ylabel} across the grid")
        ax.legend(fontsize=8)
        rep.figure(fig, f"{prefix}sweep_{key}", f"{ylabel} of every run of the grid, per backend")
    rows = []
    for n, e in runs.items():
        r = e.get("result")
        if not r:
            rows.append([sweep_label(n, e), e.get("error", "no result")] + [""] * len(names))
            continue
        mb = measured_backends(r)
        rows.append([sweep_label(n, e), r["status"]]
                    + [f"{mb[b]['cycles']['total'] / 1e6:.2f}" if b in mb else "-"
                       for b in names])
    rep.table(["run (workload, parameters, profile, flags)", "status"]
              + [f"{b} cycles (M)" for b in names], rows)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("inputs", nargs="+", help="vmmu JSON files: " + ", ".join(SCHEMAS))
    ap.add_argument("-o", "--output", required=True, help="HTML file to write")
    ap.add_argument("--title", default="vmmu report")
    args = ap.parse_args(argv)
    rep = Report(args.title)
    docs = []
    for path in args.inputs:
        try:
            with open(path) as fh:
                doc = json.load(fh)
        except (OSError, ValueError) as e:
            print(f"make_report: cannot read {path}: {e}", file=sys.stderr)
            return 2
        schema = doc.get("schema")
        if schema not in SCHEMAS:
            print(f"make_report: {path}: schema {schema!r} is not one the report reads; it "
                  f"reads {', '.join(SCHEMAS)} (demo and multi-VM documents are printed by "
                  f"vmmu itself, not charted)", file=sys.stderr)
            return 2
        docs.append((path, doc))
    for i, (path, doc) in enumerate(docs):
        if doc["schema"] == STUDY_SCHEMA:
            add_study(rep, doc, os.path.dirname(os.path.abspath(path)))
        elif doc["schema"] == DENSITY_SCHEMA:
            add_density(rep, doc, f"density{i}_")
        elif doc["schema"] == SWEEP_SCHEMA:
            add_sweep(rep, doc, f"sweep{i}_")
        else:
            rep.heading(f"Run file {os.path.basename(path)}")
            add_run(rep, doc, f"run{i}_")
    tmp = args.output + ".tmp"
    with open(tmp, "w") as fh:
        fh.write(rep.html())
    os.replace(tmp, args.output)
    print(f"wrote {args.output} ({rep.charts} charts)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
