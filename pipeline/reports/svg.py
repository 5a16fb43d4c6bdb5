"""build-timeline.svg: the Gantt chart view of build-report.json (plain SVG, no script or CSS)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from html import escape

from pipeline.reports.facts import tests_text


# colours: readable on light and dark GitHub themes (the chart has its own white background)
_C_BAR, _C_CRIT, _C_CACHED, _C_FAIL, _C_GRID, _C_TEXT = "#4c6ef5", "#e8590c", "#adb5bd", "#c92a2a", "#dee2e6", "#212529"
_C_CANCEL = "#f2c94c"  # drawn faded with a dashed outline


#: The time axis never has more than this many ticks, whatever the report says.
MAX_TICKS = 12


def _tick_step(total: float) -> float:
    """A round step giving at most MAX_TICKS ticks for any finite total (1e308 included)."""
    for step in (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1200):
        if total / step <= MAX_TICKS:
            return step
    base = 10.0 ** math.floor(math.log10(total / MAX_TICKS))
    for m in (1, 2, 5, 10):
        if total / (m * base) <= MAX_TICKS:
            return m * base
    return 10 * base


def render_svg(report: Mapping) -> str:
    """build-timeline.svg: one row per stage, bars over time, critical path in orange.

    Plain SVG (no script, no CSS, no external references), text labels, a white
    background: GitHub shows it as an image, in light and dark mode.
    """
    stages = [s for s in report.get("stages", []) if s.get("kind") != "internal"]  # BuildKit's own loads
    on_path = set(report.get("critical_path", {}).get("stages", []))
    total = max([report.get("timing", {}).get("timeline_seconds") or 0.0] + [s["end"] for s in stages] + [0.1])
    label_w, bar_w, row_h, top, right = 190, 640, 22, 46, 90
    width = label_w + bar_w + right
    height = top + row_h * max(len(stages), 1) + 80
    x = lambda t: label_w + bar_w * (t / total)  # noqa: E731
    tests = tests_text(report.get("tests"))
    title = (f"Build timeline ({report.get('lane', '?')} lane): {total:.1f} s, "
             f"critical path {report.get('critical_path', {}).get('seconds', 0):.1f} s"
             + (f"; tests: {tests}" if tests else ""))
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'font-family="-apple-system, Segoe UI, Helvetica, Arial, sans-serif" font-size="12" role="img" '
        f'aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="10" y="20" font-size="14" font-weight="bold" fill="{_C_TEXT}">{escape(title)}</text>',
    ]
    step = _tick_step(total)
    n = min(int(math.floor(total / step + 1e-9)), MAX_TICKS)
    axis_y = top + row_h * max(len(stages), 1)
    for k in range(n + 1):
        t = k * step
        out.append(f'<line x1="{x(t):.1f}" y1="{top - 6}" x2="{x(t):.1f}" y2="{axis_y}" stroke="{_C_GRID}" stroke-width="1"/>')
        out.append(f'<text x="{x(t):.1f}" y="{axis_y + 14}" text-anchor="middle" fill="{_C_TEXT}">{t:g} s</text>')
    for i, s in enumerate(stages):
        y = top + i * row_h
        crit = s["name"] in on_path
        failed = s.get("status") == "failed"
        canceled = s.get("status") == "canceled"
        colour = (_C_FAIL if failed else _C_CANCEL if canceled else _C_CRIT if crit
                  else _C_CACHED if s.get("cached") else _C_BAR)
        weight = ' font-weight="bold"' if crit else ""
        if i % 2:
            out.append(f'<rect x="0" y="{y}" width="{width}" height="{row_h}" fill="#f8f9fa"/>')
        out.append(f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end" fill="{_C_TEXT}"{weight}>{escape(s["name"])}</text>')
        x0, x1 = x(s["start"]), x(s["end"])
        tip = f'{s["name"]}: {s["start"]:.1f}–{s["end"]:.1f} s ({s["seconds"]:.1f} s)' + (", cache hit" if s.get("cached") else "")
        # the stage's span as a thin line, the time its steps actually ran as bars
        parts = [(st["start"], st["end"]) for st in s.get("steps") or [] if st["end"] > st["start"]]
        if x1 - x0 >= 1 and parts:
            out.append(f'<line x1="{x0:.1f}" y1="{y + row_h / 2:.1f}" x2="{x1:.1f}" y2="{y + row_h / 2:.1f}" '
                       f'stroke="{colour}" stroke-width="2"/>')
        for a, b in parts or [(s["start"], s["end"])]:
            w = max(x(b) - x(a), 2.0)
            outline = (' stroke="#7a2e00" stroke-width="1.5"' if crit and not canceled else
                       f' stroke="{_C_TEXT}" stroke-width="1" stroke-dasharray="3 2" fill-opacity="0.35"' if canceled else "")
            out.append(f'<rect x="{x(a):.1f}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" rx="2" fill="{colour}"'
                       + outline + f"><title>{escape(tip)}</title></rect>")
        note = (f'{s["seconds"]:.1f} s' + (" cached" if s.get("cached") else "") + (" FAILED" if failed else "")
                + (" cancelled" if canceled else ""))
        if tests and s["name"].partition("@")[0] == "test":
            note += f" · {tests}"
        out.append(f'<text x="{max(x1, x0 + 2) + 4:.1f}" y="{y + 15}" fill="{_C_TEXT}">{escape(note)}</text>')
    ly = axis_y + 36
    legend = [(_C_CRIT, "critical path"), (_C_BAR, "ran"), (_C_CACHED, "cache hit"), (_C_FAIL, "failed"),
              (_C_CANCEL, "cancelled (stopped by the failure)")]
    lx = 10
    for colour, text in legend:
        out.append(f'<rect x="{lx}" y="{ly - 10}" width="14" height="10" rx="2" fill="{colour}"/>')
        out.append(f'<text x="{lx + 18}" y="{ly}" fill="{_C_TEXT}">{text}</text>')
        lx += 30 + 7 * len(text)
    out.append(f'<text x="10" y="{ly + 20}" fill="#495057">Seconds from the start of the build. Bars: steps '
               f'running; thin line: the stage waiting for another; overlapping bars ran in parallel.</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
