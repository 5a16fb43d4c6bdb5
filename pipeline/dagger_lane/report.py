"""What the engine reports back, for build-report.json in the Dagger lane.

Stages evaluated concurrently and timed (wall clock from the call's start), what the build
printed inside (the go-deps step's `go env -json`, the base steps' tool versions), the images'
tarball sizes, the JUnit counts, and the three report files written into dist/. The report
itself is assembled by pipeline.reports.dagger_adapter.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import anyio
import dagger

from pipeline.dagger_lane.results import describe_failure
from pipeline.dagger_lane.stages import StageGraph


async def _timed(timings: dict, name: str, obj, t0: float) -> None:
    start = time.monotonic()
    entry = {"started": round(start - t0, 3)}
    try:
        await obj.sync()
        entry["ok"] = True
    except dagger.QueryError as e:  # one failed stage must not cancel the others (a lost engine does)
        failure = describe_failure(e)
        entry |= {"ok": False, "error": failure["message"], "step": failure["step"],
                  "stderr": failure["stderr"]}
    entry["finished"] = round(time.monotonic() - t0, 3)
    timings[name] = entry


async def evaluate(targets: Mapping[str, object]) -> dict:
    """Evaluate stages concurrently and time each (wall clock from the call's start)."""
    timings: dict = {}
    t0 = time.monotonic()
    async with anyio.create_task_group() as tg:
        for name, obj in targets.items():
            tg.start_soon(_timed, timings, name, obj, t0)
    return timings


async def read_facts(graph: StageGraph, image_tarballs: Mapping[str, dagger.File]) -> dict:
    """What the build printed inside (go-mod's `go env -json`, the module zips go-build and
    go-deps fetched, tool versions of the base steps) and the sizes of `image_tarballs`
    (as `size:<kind>`); None for anything unreadable."""
    reads = {
        "go-mod": lambda: graph.container("go-mod").stdout(),
        "go-build": lambda: graph.container("go-build", graph.first_target).stdout(),
        "go-deps": lambda: graph.container("go-deps").stdout(),
        "go-base": lambda: graph.container("go-base").stdout(),
        "node-base": lambda: graph.container("node-base").stdout(),
    }
    for kind, tarball in image_tarballs.items():
        reads[f"size:{kind}"] = tarball.size
    facts: dict = {}

    async def read(key, fn):
        try:
            facts[key] = await fn()
        except dagger.QueryError:
            facts[key] = None

    async with anyio.create_task_group() as tg:
        for key, fn in reads.items():
            tg.start_soon(read, key, fn)
    return facts


async def test_counts(reports: dagger.Directory) -> dict | None:
    """Passed/failed/skipped from reports/junit.xml, as the Docker lane's report has them."""
    from pipeline.reports.facts import test_outcome

    try:
        xml = await reports.file("junit.xml").contents()
    except dagger.QueryError:  # the test stage wrote no report
        return None
    with tempfile.TemporaryDirectory() as d:
        (junit := Path(d) / "junit.xml").write_text(xml)
        return test_outcome(junit, source="JUnit report reports/junit.xml")


def with_report(dist: dagger.Directory, report: dict) -> dagger.Directory:
    """build-report.json, build-report.md and build-timeline.svg into dist/."""
    from pipeline.reports.markdown import render_markdown
    from pipeline.reports.schema import FILES
    from pipeline.reports.svg import render_svg

    return (
        dist.with_new_file(FILES["json"], json.dumps(report, indent=2, sort_keys=True))
        .with_new_file(FILES["markdown"], render_markdown(report, FILES["svg"]))
        .with_new_file(FILES["svg"], render_svg(report))
    )
