#!/usr/bin/python3
"""Every #include between engine/ folders points down the layers, and docs/ARCHITECTURE.md's
folder table names exactly the folders engine/ has.

Layers, lowest first: core < host < mmu < schemes < experiment < output < cli. A folder of
engine/ that is not a layer is an MMU scheme. Rules:
  - a layer includes only its own folder and layers below it;
  - core, host and mmu include no scheme; a scheme includes no other scheme;
  - experiment, output and cli reach schemes only through the registry and the inspection
    interface (engine/mmu/), never through a scheme's headers.
Run with the source tree's root as the argument; also checks itself on a made-up tree (--self-test).
"""
import os
import re
import sys
import tempfile

LAYERS = ["core", "host", "mmu", "experiment", "output", "cli"]
SCHEME_RANK = LAYERS.index("mmu") + 0.5  # schemes sit between mmu and experiment
INCLUDE = re.compile(r'^\s*#\s*include\s+"engine/([A-Za-z0-9_]+)/([^"]+)"', re.M)


def rank(folder):
    return LAYERS.index(folder) if folder in LAYERS else SCHEME_RANK


def violations(root):
    engine = os.path.join(root, "engine")
    found = []
    for folder in sorted(os.listdir(engine)):
        path = os.path.join(engine, folder)
        if not os.path.isdir(path):
            continue
        for dirpath, _, files in os.walk(path):
            for name in sorted(files):
                if not name.endswith((".h", ".cpp", ".hpp", ".cc")):
                    continue
                file = os.path.join(dirpath, name)
                rel = os.path.relpath(file, root)
                with open(file, encoding="utf-8") as f:
                    text = f.read()
                for target, header in INCLUDE.findall(text):
                    if target == folder:
                        continue
                    if not os.path.isdir(os.path.join(engine, target)):
                        found.append(f"{rel}: includes engine/{target}/{header}, a folder that does not exist")
                        continue
                    src_scheme = folder not in LAYERS
                    dst_scheme = target not in LAYERS
                    if dst_scheme and src_scheme:
                        found.append(f"{rel}: scheme '{folder}' includes another scheme's header engine/{target}/{header}")
                    elif dst_scheme and rank(folder) > SCHEME_RANK:
                        found.append(f"{rel}: layer '{folder}' includes scheme header engine/{target}/{header}; "
                                     "go through engine/mmu/registry.h or engine/mmu/inspect.h")
                    elif rank(target) > rank(folder):
                        found.append(f"{rel}: '{folder}' includes engine/{target}/{header} from a higher layer "
                                     f"({' < '.join(LAYERS[:3])} < schemes < {' < '.join(LAYERS[3:])})")
    return found


def undocumented(root):
    """Every engine/ folder is named in docs/ARCHITECTURE.md's folder table, and every folder the
    table names exists."""
    doc = open(os.path.join(root, "docs", "ARCHITECTURE.md"), encoding="utf-8").read()
    table = "\n".join(l for l in doc.splitlines() if l.startswith("| `engine/"))
    named = set(re.findall(r"`engine/([A-Za-z0-9_]+)/`", table))
    engine = os.path.join(root, "engine")
    present = {d for d in os.listdir(engine) if os.path.isdir(os.path.join(engine, d))}
    return [f"engine/{d}/ is missing from docs/ARCHITECTURE.md's folder table" for d in sorted(present - named)] + \
           [f"docs/ARCHITECTURE.md's folder table names engine/{d}/, which does not exist" for d in sorted(named - present)]


def self_test():
    cases = {
        "engine/core/a.h": '#include "engine/mmu/b.h"\n',          # core -> mmu: wrong
        "engine/mmu/b.h": '#include "engine/core/c.h"\n',          # fine
        "engine/core/c.h": "",
        "engine/shadow/s.h": '#include "engine/slat/t.h"\n',       # scheme -> scheme: wrong
        "engine/slat/t.h": '#include "engine/mmu/b.h"\n',          # fine
        "engine/cli/x.cpp": '#include "engine/slat/t.h"\n',        # cli -> scheme: wrong
        "engine/output/o.cpp": '#include "engine/experiment/e.h"\n',  # fine
        "engine/experiment/e.h": '#include "engine/output/o.h"\n',  # experiment -> output: wrong
        "engine/output/o.h": "",
    }
    with tempfile.TemporaryDirectory() as d:
        for rel, text in cases.items():
            os.makedirs(os.path.dirname(os.path.join(d, rel)), exist_ok=True)
            with open(os.path.join(d, rel), "w") as f:
                f.write(text)
        got = violations(d)
    wrong = {"engine/core/a.h", "engine/shadow/s.h", "engine/cli/x.cpp", "engine/experiment/e.h"}
    flagged = {v.split(":")[0] for v in got}
    if flagged != wrong:
        print(f"self-test failed: flagged {sorted(flagged)}, expected {sorted(wrong)}")
        return False
    return True


def main():
    if len(sys.argv) != 2:
        print("usage: layering_test.py SOURCE_ROOT", file=sys.stderr)
        return 2
    if not self_test():
        return 1
    found = violations(sys.argv[1]) + undocumented(sys.argv[1])
    for v in found:
        print(v)
    print(f"layering and folder table: {len(found)} violation(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
