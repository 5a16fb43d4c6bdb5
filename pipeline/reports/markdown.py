"""build-report.md: the Markdown view of build-report.json (CI job summaries, `flamenco-pipeline report`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pipeline.reports.facts import tests_text
from pipeline.reports.schema import FILES


# Flamenco's own Docker build, as published by its developers (critical path, seconds).
ORIGINAL_BREAKDOWN = (
    ("system packages", 377, ("go-base", "node-base", "python-base")),
    ("Go modules", 84, ("go-deps",)),
    ("Python", 54, ("addon",)),
    ("Node", 6, ("web-deps", "webapp")),
    ("tools", 13, ("gotestsum", "staticcheck")),
    ("compile", 12, ("go-source", "app")),
)
ORIGINAL_TOTAL = 9 * 60 + 29


def _fmt_s(x: float | None) -> str:
    return "–" if x is None else f"{x:.1f}"


def _fmt_bytes(n: int | None) -> str:
    if n is None:
        return "unknown"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


_MD_SPECIAL = str.maketrans({"|": "\\|", "<": "&lt;", "[": "\\[", "]": "\\]", "`": "'",
                             "\n": " ", "\r": " "})


def _md_inert(value):
    """Every string of a report as inert Markdown text: no table breaks, HTML tags (no `<`), links, images or code spans."""
    if isinstance(value, str):
        from pipeline.core.validate import one_line

        return one_line(value).translate(_MD_SPECIAL)
    if isinstance(value, Mapping):
        return {_md_inert(k): _md_inert(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_md_inert(v) for v in value]
    return value


def render_markdown(report: Mapping, svg_name: str | None = FILES["svg"]) -> str:
    """build-report.md: summary, timeline link, stage table, critical path, images, Go settings, tools.

    A report may come from a pull request's CI run: its strings are made inert first.
    """
    report = _md_inert(report)
    lane = report.get("lane", "?")
    stamp = report.get("stamp") or {}
    timing = report.get("timing", {})
    stages = report.get("stages", [])
    path = report.get("critical_path", {})
    on_path = set(path.get("stages", []))
    real = [s for s in stages if s.get("kind") == "stage"]
    cached = [s for s in real if s.get("cached")]
    lines = [f"# Build report ({lane} lane)", ""]
    head = []
    if stamp:
        head.append(f"Flamenco {stamp.get('version')} ({stamp.get('git_hash')}, {stamp.get('release_cycle')})")
    if report.get("go_version"):
        head.append(f"Go {report['go_version']}")
    head.append(f"flamenco-pipeline {report.get('pipeline', {}).get('version', '?')}")
    lines += [" · ".join(head), ""]
    summary = []
    if timing.get("wall_seconds") is not None:
        summary.append(f"**Wall time:** {timing['wall_seconds']:.1f} s measured")
    summary.append(f"**Timeline:** {timing.get('timeline_seconds', 0):.1f} s")
    if path.get("stages"):
        summary.append(f"**Critical path:** {' → '.join(path['stages'])} ({path.get('seconds', 0):.1f} s)")
    if real and any(s.get("cached") is not None for s in real):
        summary.append(f"**Cache:** {len(cached)} of {len(real)} stages were cache hits")
    if text := tests_text(report.get("tests")):
        summary.append(f"**Tests:** {text}")
    failed = [s["name"] for s in stages if s.get("status") == "failed"]
    if failed:
        summary.append(f"**Failed:** {', '.join(failed)}")
    canceled = [s["name"] for s in stages if s.get("status") == "canceled"]
    if canceled:
        summary.append(f"**Cancelled (by the failure):** {', '.join(canceled)}")
    lines += [" · ".join(summary), ""]
    failing_tests = (report.get("tests") or {}).get("failures") or []
    if failing_tests:
        lines += ["Failing tests: " + ", ".join(f"`{t}`" for t in failing_tests[:10])
                  + (" …" if len(failing_tests) > 10 else ""), ""]
    if svg_name:
        lines += [f"![Stage timeline: bars over time, critical path marked]({svg_name})", "",
                  f"[Timeline (SVG)]({svg_name})", ""]
    lines += ["## Stages", "",
              "| stage | tier | start (s) | end (s) | wall (s) | busy (s) | cache | critical path |",
              "|---|---|---:|---:|---:|---:|---|:---:|"]
    internal = [s for s in stages if s.get("kind") == "internal"]
    for s in stages:
        if s.get("kind") == "internal":
            continue  # BuildKit's own loads: summed up below the table
        cache = {True: "hit", False: "ran", None: "–"}[s.get("cached")]
        status = s.get("status")
        if status == "failed":
            cache = f"{cache}, **FAILED**"
        elif status == "canceled":
            cache = "cancelled (by the failure)"
        elif status not in (None, "ok"):
            cache = f"{cache}, {status}"
        lines.append(f"| {s['name']} | {s.get('tier') or '–'} | {s['start']:.1f} | {s['end']:.1f} | {s['seconds']:.1f} | "
                     f"{_fmt_s(s.get('busy_seconds'))} | {cache} | {'●' if s['name'] in on_path else ''} |")
    if internal:
        busy = sum(s.get("busy_seconds") or s["seconds"] for s in internal)
        lines += ["", f"Not shown: BuildKit's own work (loading the Dockerfile, the build context and image "
                      f"metadata), {busy:.1f} s in all."]
    lines.append("")
    lines += _steps_table(stages)
    if path.get("segments"):
        lines += ["## Critical path", "", "| stage | start (s) | end (s) | seconds |", "|---|---:|---:|---:|"]
        for seg in path["segments"]:
            lines.append(f"| {seg['stage']} | {seg['start']:.1f} | {seg['end']:.1f} | {seg['seconds']:.1f} |")
        lines.append(f"| **total** | | | **{path.get('seconds', 0):.1f}** |")
        lines.append("")
    imgs = report.get("images") or {}
    if imgs:
        lines += ["## Images", "", "| image | reference | size |", "|---|---|---:|"]
        for kind, info in imgs.items():
            lines.append(f"| {kind} | `{info.get('ref')}` | {_fmt_bytes(info.get('size_bytes'))} |")
        lines.append("")
    gms = report.get("go_module_settings") or {}
    lines += ["## Go module settings", "", f"From: {gms.get('source', 'unknown')}.", ""]
    if gms.get("values"):
        lines += ["| variable | value |", "|---|---|"]
        for k, v in sorted(gms["values"].items()):
            lines.append(f"| {k} | `{v}` |" if v != "" else f"| {k} | (empty) |")
        if gms.get("module_zips_fetched") is not None:
            lines.append(f"| module zips fetched | {gms['module_zips_fetched']} |")
        lines.append("")
    tools = report.get("tool_versions") or {}
    if tools:
        lines += ["## Tool versions", "", "| tool | version | from |", "|---|---|---|"]
        for k, v in tools.items():
            lines.append(f"| {k} | {v['version']} | {v['source']} |")
        lines.append("")
    lines += ["## How this was measured", "", timing.get("accuracy", ""), ""]
    for note in report.get("notes") or []:
        lines.append(f"- {note}")
    return "\n".join(lines).rstrip() + "\n"


def _steps_table(stages: Sequence[Mapping]) -> list[str]:
    """One row per named step inside the stages (not FROM/WORKDIR), so a long compile inside a
    stage shows as itself. Empty when the lane records no steps (the Dagger lane times stages)."""
    rows = [(s, st) for s in stages if s.get("kind") == "stage"
            for st in s.get("steps") or [] if st.get("instruction") not in ("FROM", "WORKDIR", None)]
    if not rows:
        return []
    out = ["## Steps", "", "| stage | step | start (s) | end (s) | seconds | cache |", "|---|---|---:|---:|---:|---|"]
    for s, st in rows:
        cache = "hit" if st.get("cached") else st.get("status") if st.get("status") not in ("done", None) else "ran"
        took = 0.0 if st.get("cached") else (st.get("seconds") if st.get("seconds") is not None
                                              else st["end"] - st["start"])
        name = (st.get("name") or st.get("title") or "").replace("|", "\\|")
        out.append(f"| {s['name']} | {name} | {st['start']:.1f} | {st['end']:.1f} | {took:.1f} | {cache} |")
    return out + [""]


def original_comparison(report: Mapping) -> list[tuple[str, float, float | None, str]]:
    """(part, original seconds, our seconds on the critical path or stage wall, our stages) for docs."""
    by_name = {}
    for s in report.get("stages", []):
        by_name.setdefault(s["name"].partition("@")[0], s)
    rows = []
    for part, orig, names in ORIGINAL_BREAKDOWN:
        got = [by_name[n]["seconds"] for n in names if n in by_name]
        rows.append((part, orig, round(sum(got), 1) if got else None, ", ".join(names)))
    return rows
