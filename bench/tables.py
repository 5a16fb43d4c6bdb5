"""Markdown tables of a bench/rebuild.py result, for docs/performance.md.

    .venv/bin/python bench/tables.py bench/results/latest.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

BUILDS = ("ours", "before", "baseline")
NAMES = {"cold-images": "cold, images only", "cold-ordered": "cold, images first then tests+check",
         "cold": "cold, everything", "no-op": "no-op", "source": "one `.go` file", "web": "one web file",
         "docs": "one docs file", "dep": "one module added"}


def _s(x) -> str:
    return "–" if x is None else f"{x:.1f}"


def scenario_table(r: dict) -> list[str]:
    sc = r["scenarios"]
    builds = [b for b in BUILDS if b in sc]
    head = "| scenario | " + " | ".join(f"{b}: images ready (s) | {b}: everything (s)" if b != "baseline"
                                      else "baseline: its one build (s)" for b in builds) + " |"
    out = [head, "|---|" + "---:|" * (sum(2 if b != "baseline" else 1 for b in builds))]
    for name in NAMES:
        if not any(name in sc[b] for b in builds):
            continue
        cells = []
        for b in builds:
            row = sc[b].get(name)
            if b == "baseline":
                cells.append(_s(row and row["images_ready"]))
            else:
                everything = row["seconds"] if row and len(row["targets"]) > 2 else None
                cells.append(_s(row and row["images_ready"]))
                cells.append(_s(everything))
        out.append(f"| {NAMES[name]} | " + " | ".join(cells) + " |")
    return out


def ratios(r: dict) -> list[str]:
    sc = r["scenarios"]
    g = lambda b, s, k="images_ready": (sc.get(b, {}).get(s) or {}).get(k)  # noqa: E731
    rows = []
    cold = g("ours", "cold")
    for label, a, b in (("ours / before, cold images-ready", cold, g("before", "cold")),
                        ("baseline / ours, cold images-ready", g("baseline", "cold"), cold),
                        ("ours / before, cold everything", g("ours", "cold", "seconds"), g("before", "cold", "seconds")),
                        ("ours cold-images / ours cold (images alone vs beside tests)", g("ours", "cold-images"), cold),
                        ("ours one `.go` change / ours cold, images-ready", g("ours", "source"), cold),
                        ("ours / baseline, one `.go` change", g("ours", "source"), g("baseline", "source"))):
        if a is not None and b:
            rows.append(f"| {label} | {a / b:.3f} |")
    return ["| ratio | value |", "|---|---:|", *rows]


def reran_table(r: dict) -> list[str]:
    out = ["| build | scenario | steps that re-ran (seconds) |", "|---|---|---|"]
    for b in BUILDS:
        for name, row in r["scenarios"].get(b, {}).items():
            if name.startswith("cold"):
                continue
            steps = row.get("reran") or []
            out.append(f"| {b} | {NAMES[name]} | {'; '.join(steps) if steps else '**none**'} |")
    return out


def cold_steps(r: dict, who: str, n: int = 12) -> list[str]:
    steps = sorted((r.get("cold_steps") or {}).get(who, []), key=lambda s: -(s["seconds"] or 0))[:n]
    out = ["| stage | step | start (s) | end (s) | seconds |", "|---|---|---:|---:|---:|"]
    out += [f"| {s['stage']} | {s['step']} | {s['start']:.1f} | {s['end']:.1f} | {s['seconds'] or 0:.1f} |" for s in steps]
    return out


def targets(r: dict) -> list[str]:
    out = ["| target (issue 11) | measured | |", "|---|---|---|"]
    for t in r.get("targets", []):
        out.append(f"| {t['target']} | {t['measured']} | {'met' if t['met'] else 'not met' if t['met'] is False else '–'} |")
    return out


def main(argv: list[str]) -> int:
    r = json.loads(Path(argv[0]).read_text())
    print(f"`{r.get('command')}`, {r.get('date')}, source `{r.get('source')}`, Go {r.get('go_version')}, "
          f"{r['machine']['cpus']} CPUs, Docker {r['machine']['docker_engine']}; load average "
          f"{r['load'].get('loadavg_before')} before, {r['load'].get('loadavg_after')} after; bench "
          f"{r.get('bench_seconds', 0) / 60:.0f} min\n")
    for part in (scenario_table(r), ratios(r), targets(r), reran_table(r)):
        print("\n".join(part) + "\n")
    for who in ("ours", "before"):
        if (r.get("cold_steps") or {}).get(who):
            print(f"Slowest steps, {who}, cold everything:\n")
            print("\n".join(cold_steps(r, who)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
