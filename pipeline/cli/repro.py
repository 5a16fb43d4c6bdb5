"""`flamenco-pipeline repro` and `flamenco-pipeline summary` (loaded lazily by pipeline.cli.app's LazyGroup).

Imports stay inside the commands so that `flamenco-pipeline --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.cli.common import TextPath, fail


@click.command()
@click.argument("repro_file", metavar="REPRO_JSON", type=TextPath(dir_okay=False, path_type=Path))
@click.option("--print", "print_only", is_flag=True,
              help="Show the recorded `dagger call` line and the equivalent CLI line; run nothing.")
@click.option("-i", "--interactive", is_flag=True,
              help="Re-run with Dagger's --interactive: a terminal opens in the failing step's container.")
@click.option("--any-revision", is_flag=True,
              help="Run even if the source or module checkout is not at the recorded revision.")
@click.option("--record", "record_args", metavar="'ARGS'", default=None,
              help="Write REPRO_JSON for `dagger call ARGS` (what a CI job runs) instead of re-running.")
@click.option("-m", "--module", default=None,
              help="With --record: the module the call loads (`dagger -m`); default: the one in this directory. "
                   "When re-running: the remote module the record names, if you trust it (its code runs).")
def repro(repro_file: Path, print_only: bool, interactive: bool, any_revision: bool,
          record_args: str | None, module: str | None) -> None:
    """Re-run a recorded pipeline call (repro.json) locally, against the same revision.

    \b
    flamenco-pipeline repro repro.json           re-run it (needs the Dagger CLI; the SDK fetches it)
    flamenco-pipeline repro repro.json --print   show the dagger call / CLI lines only
    flamenco-pipeline repro repro.json -i        re-run with a terminal at the failing step
    """
    import sys

    from pipeline.ci import repro_call, repro_record, repro_rerun, repro_trust

    try:
        if record_args is not None:
            if print_only or interactive:
                fail("invalid option --record: it cannot be combined with --print or --interactive")
            path = repro_record.write(repro_record.record_for_dagger_call(record_args, module=module), repro_file)
            click.echo(f"repro: wrote {path}", err=True)
            return
        trusted = repro_trust.trusted(repro_record.load(repro_file))  # validated and rebuilt; nothing else is used
        if print_only:
            if module is not None:
                fail("invalid option --module: --print runs nothing; pass --module when re-running")
            click.echo(repro_rerun.describe(trusted, interactive=interactive))
            return
        code = repro_rerun.rerun(trusted, interactive=interactive, any_revision=any_revision, module=module)
    except repro_call.ReproError as e:
        fail(str(e), e.code)
    sys.exit(code)


@click.command()
@click.argument("junit_xml", metavar="JUNIT_XML", type=TextPath(dir_okay=False, path_type=Path))
@click.option("--slowest", default=10, show_default=True, type=click.IntRange(0, 1000),
              help="How many of the slowest tests to list.")
@click.option("--title", default="Go tests", show_default=True, help="Heading of the summary.")
@click.option("--repro", "repro_file", default=None, type=TextPath(dir_okay=False, path_type=Path),
              help="repro.json of the run: adds the one-line local re-run command.")
def summary(junit_xml: Path, slowest: int, title: str, repro_file: Path | None) -> None:
    """Markdown summary of a JUnit report: passed/failed/skipped/time, failures, slowest tests.

    In GitHub Actions: flamenco-pipeline summary dist/reports/junit.xml >> "$GITHUB_STEP_SUMMARY"
    """
    from pipeline.reports import junit as js
    from pipeline.ci import repro_call, repro_record

    try:
        report = js.parse(junit_xml)
        repro_line = None
        if repro_file is not None:
            repro_record.load(repro_file)  # a broken or foreign file is an error, not a silent omission
            repro_line = f"flamenco-pipeline repro {repro_file}"
    except (js.JUnitError, repro_call.ReproError) as e:
        fail(str(e))
    click.echo(js.render(report, title=title, slowest=slowest, repro_line=repro_line), nl=False)
