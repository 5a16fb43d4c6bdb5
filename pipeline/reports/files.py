"""Writes a report's three files: build-report.json, build-report.md, build-timeline.svg."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from pipeline.reports.markdown import render_markdown
from pipeline.reports.schema import FILES
from pipeline.reports.svg import render_svg


def write_report_files(report: Mapping, out_dir: Path) -> dict[str, Path]:
    """Write build-report.json, build-report.md and build-timeline.svg into ``out_dir`` (strings redacted)."""
    from pipeline.core.validate import redact_deep

    report = redact_deep(report)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {k: out_dir / name for k, name in FILES.items()}
    paths["json"].write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    paths["markdown"].write_text(render_markdown(report, FILES["svg"]))
    paths["svg"].write_text(render_svg(report))
    return paths
