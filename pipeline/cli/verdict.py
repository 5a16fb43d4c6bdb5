"""`flamenco-pipeline verdict dist/ci-result.json` (loaded lazily by pipeline.cli.app's LazyGroup).

Reading and checking the file is pipeline.ci.verdict; this is only the command.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pipeline.ci.verdict import VerdictError, read, summary_lines


@click.command()
@click.argument("ci_result", metavar="CI_RESULT_JSON", type=click.Path(dir_okay=False, path_type=Path))
def verdict(ci_result: Path) -> None:
    """Exit 0 when every ci part passed, 1 otherwise; prints one line per part (and each failure's cause)."""
    try:
        doc = read(ci_result)
    except VerdictError as e:
        click.echo(f"flamenco-pipeline: error: {e}", err=True)
        sys.exit(1)
    click.echo("\n".join(summary_lines(doc)))
    sys.exit(0 if doc["exit_code"] == 0 else 1)
