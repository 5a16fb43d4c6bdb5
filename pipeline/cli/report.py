"""`flamenco-pipeline report`: build-report.md and build-timeline.svg from build-report.json.

Loaded lazily by `pipeline.cli.app's LazyGroup`; the rendering code is imported only
when the command runs, so `flamenco-pipeline --help` stays fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from pipeline.cli.common import TextPath, fail


#: build-report.json is a few kB; anything far larger is not one (and is not read).
MAX_REPORT_BYTES = 20_000_000


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number a report may hold")


def _finite(text: str) -> float:
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{text} is not a finite number")
    return value


@click.command("report")
@click.argument("report_json", type=TextPath(dir_okay=False, path_type=Path))
@click.option("--output-dir", type=TextPath(file_okay=False, path_type=Path), default=None,
              help="Where to write build-report.md and build-timeline.svg (default: next to the JSON).")
@click.option("--timeline-link", default=None, metavar="URL",
              help="Link target of the timeline in the Markdown (default: build-timeline.svg, relative).")
@click.option("--quiet", is_flag=True, help="Write the files only; do not print the Markdown.")
def report(report_json: Path, output_dir: Path | None, timeline_link: str | None, quiet: bool) -> None:
    """Render build-report.md (+ timeline SVG) from build-report.json.

    \b
    The Markdown also goes to stdout, for CI job summaries:
      flamenco-pipeline report dist/build-report.json >> "$GITHUB_STEP_SUMMARY"
    """
    from pipeline.reports.markdown import render_markdown
    from pipeline.reports.schema import FILES, SCHEMA_ID, validation_error
    from pipeline.reports.svg import render_svg

    arg = f"invalid argument REPORT_JSON={str(report_json)!r}"
    try:
        if report_json.stat().st_size > MAX_REPORT_BYTES:
            fail(f"{arg}: larger than {MAX_REPORT_BYTES // 1_000_000} MB; a build report is a few kB")
        data = json.loads(report_json.read_bytes(), parse_constant=_no_constant, parse_float=_finite)
    except OSError as e:
        fail(f"{arg}: {e.strerror or e}; pass a build-report.json")
    except json.JSONDecodeError as e:
        fail(f"{arg}: not JSON ({e.msg}, line {e.lineno})")
    except (UnicodeDecodeError, RecursionError, ValueError) as e:
        fail(f"{arg}: not a JSON report ({e})")
    if not isinstance(data, dict) or data.get("schema") != SCHEMA_ID:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        fail(f"{arg}: schema {found!r} is not {SCHEMA_ID!r}; "
             "pass a build-report.json written by flamenco-pipeline")
    if problem := validation_error(data):
        fail(f"{arg}: does not match the build-report schema at {problem}")
    out = output_dir or report_json.parent
    try:
        out.mkdir(parents=True, exist_ok=True)
        markdown = render_markdown(data, timeline_link or FILES["svg"])
        (out / FILES["markdown"]).write_text(markdown)
        (out / FILES["svg"]).write_text(render_svg(data))
    except OSError as e:
        fail(f"invalid option --output-dir={str(out)!r}: {e.strerror or e}; pick a directory you can write to")
    except (KeyError, TypeError, ValueError) as e:
        fail(f"invalid argument REPORT_JSON={str(report_json)!r}: incomplete report ({type(e).__name__}: {e})")
    if not quiet:
        click.echo(markdown, nl=False)
    click.echo(f"wrote {out / FILES['markdown']} and {out / FILES['svg']}", err=True)
