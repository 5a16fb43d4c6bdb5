"""`flamenco-pipeline report`: build-report.md and build-timeline.svg from build-report.json.

Loaded lazily by `pipeline.cli.LazyGroup`; the rendering code is imported only
when the command runs, so `flamenco-pipeline --help` stays fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


@click.command("report")
@click.argument("report_json", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
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
    from pipeline.build_report import FILES, SCHEMA_ID, render_markdown, render_svg

    def fail(message: str) -> None:
        click.echo(f"flamenco-pipeline: error: {message}", err=True)
        sys.exit(2)

    try:
        data = json.loads(report_json.read_text())
    except OSError as e:
        fail(f"invalid argument REPORT_JSON={str(report_json)!r}: {e.strerror or e}; pass a build-report.json")
    except json.JSONDecodeError as e:
        fail(f"invalid argument REPORT_JSON={str(report_json)!r}: not JSON ({e.msg}, line {e.lineno})")
    if not isinstance(data, dict) or data.get("schema") != SCHEMA_ID:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        fail(f"invalid argument REPORT_JSON={str(report_json)!r}: schema {found!r} is not {SCHEMA_ID!r}; "
             "pass a build-report.json written by flamenco-pipeline")
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
