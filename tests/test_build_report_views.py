"""build-report.json (schema), its Markdown and SVG views, `flamenco-pipeline report`,
and the Dagger lane's report, offline (the Docker lane's real run is in
tests/container_lane/test_build_report.py)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from pipeline.reports import dagger_adapter as report_dagger_adapter, docker_adapter as report_docker_adapter, facts as report_facts, markdown as report_markdown, schema as report_schema, svg as report_svg
from tests.conftest import STAMP, make_pipeline
from tests.querychain import calls

COLD = Path(__file__).parent / "data" / "buildkit-plain-app-cold.log"
SVG_NS = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def report() -> dict:
    wall = json.loads(COLD.with_suffix(".json").read_text())["wall_seconds"]
    return report_docker_adapter.docker_lane_report([report_docker_adapter.TargetLog("app", COLD.read_text(), started=0.0, seconds=wall)], inspect=False)


def test_docker_report_follows_the_schema(report):
    jsonschema.validate(report, report_schema.SCHEMA)
    names = [s["name"] for s in report["stages"]]
    assert {"go-base", "go-mod", "go-source", "go-build", "app", "(export app)"} <= set(names)
    assert not {"gotestsum", "staticcheck", "go-deps", "go-verify"} & set(names), "--target app needs no tools, nor every module"
    assert report["critical_path"]["stages"][-2:] == ["app", "(export app)"]
    assert report["timing"]["wall_seconds"] >= report["timing"]["timeline_seconds"] > 0
    assert report["go_module_settings"]["values"]["GOFLAGS"] == "-mod=readonly"
    assert report["go_module_settings"]["module_zips_fetched"] == 1  # go-build's: the binaries import one module
    tools = report["tool_versions"]
    assert tools["go"]["version"] == "go1.26.2" and tools["node"]["version"].startswith("v22.")
    assert tools["yarn"]["version"] == "1.22.22" and "build log" in tools["git"]["source"]


def test_stage_spans_count_only_steps_that_took_time(report):
    by = {s["name"]: s for s in report["stages"]}
    src = by["go-source"]
    assert src["busy_seconds"] == pytest.approx(sum(st["end"] - st["start"] for st in src["steps"]), abs=0.01)  # sequential steps
    assert src["seconds"] >= src["busy_seconds"] - 0.01
    assert by["webapp"]["start"] >= by["web-deps"]["end"] - 0.01


def test_markdown_has_the_tables_and_links_the_timeline(report):
    md = report_markdown.render_markdown(report)
    assert "![Stage timeline" in md and "(build-timeline.svg)" in md
    assert "| stage | tier | start (s) | end (s) | wall (s) | busy (s) | cache | critical path |" in md
    assert "| go-source | app |" in md
    assert "## Critical path" in md and " → app → (export app)" in md
    # one row per named step: the compile inside the app stage is its own row, with its seconds
    by = {s["name"]: s for s in report["stages"]}
    for stage, step in (("go-build", "go build binaries"), ("app", "go build manager")):
        st = next(st for st in by[stage]["steps"] if st["name"] == step)
        assert f"| {stage} | {step} | {st['start']:.1f} | {st['end']:.1f} | {st['seconds']:.1f} | ran |" in md
    assert "| go-mod | check module settings |" in md and "| go-source | copy web/*.go -> /src/web/ |" in md
    assert "| GOFLAGS | `-mod=readonly` |" in md
    assert "earliest schedule consistent with the log" in md


def test_svg_is_plain_and_marks_the_critical_path(report):
    svg = report_svg.render_svg(report)
    root = ET.fromstring(svg)  # well-formed
    assert root.tag == f"{SVG_NS}svg"
    assert not [e for e in root.iter() if e.tag in (f"{SVG_NS}script", f"{SVG_NS}foreignObject", f"{SVG_NS}style")]
    assert "href" not in svg and "javascript" not in svg.lower()
    texts = [e.text for e in root.iter(f"{SVG_NS}text")]
    for stage in ("go-mod", "go-source", "go-build", "webapp", "app"):
        assert stage in texts
    bold = {e.text for e in root.iter(f"{SVG_NS}text") if e.get("font-weight") == "bold"}
    assert bold - {texts[0]} == set(report["critical_path"]["stages"]) and "addon" not in bold  # texts[0]: the title
    assert any(e.get("fill") == report_svg._C_CRIT for e in root.iter(f"{SVG_NS}rect"))


def test_report_command_renders_from_the_json(report, tmp_path):
    from pipeline.cli.app import main

    path = tmp_path / "dist" / "build-report.json"
    path.parent.mkdir()
    path.write_text(json.dumps(report))
    res = CliRunner().invoke(main, ["report", str(path), "--output-dir", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith("# Build report (docker lane)")
    assert (tmp_path / "out" / "build-report.md").read_text() == res.stdout
    ET.fromstring((tmp_path / "out" / "build-timeline.svg").read_text())
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "something-else"}')
    res = CliRunner().invoke(main, ["report", str(bad)])
    assert res.exit_code == 2 and "schema 'something-else'" in res.stderr


def test_dagger_lane_report_derives_starts_from_dependencies():
    timings = {
        "go-base": {"started": 0.0, "finished": 2.0, "ok": True},
        "node-base": {"started": 0.0, "finished": 1.0, "ok": True},
        "python-base": {"started": 0.0, "finished": 1.0, "ok": True},
        "go-mod": {"started": 0.0, "finished": 3.0, "ok": True},
        "go-deps": {"started": 0.0, "finished": 38.0, "ok": True},
        "web-deps": {"started": 0.0, "finished": 5.0, "ok": True},
        "gotestsum": {"started": 0.0, "finished": 36.0, "ok": True},
        "webapp": {"started": 0.0, "finished": 8.0, "ok": True},
        "addon": {"started": 0.0, "finished": 2.0, "ok": True},
        "go-source": {"started": 0.0, "finished": 11.0, "ok": True},
        "go-build@linux/amd64": {"started": 0.0, "finished": 30.0, "ok": True},
        "app@linux/amd64": {"started": 0.0, "finished": 40.0, "ok": True},
        "manager@linux/amd64": {"started": 0.0, "finished": 41.0, "ok": True},
        "worker@linux/amd64": {"started": 0.0, "finished": 45.0, "ok": True},
    }
    go_out = ('flamenco-pipeline: effective Go module settings:\n{\n\t"GOFLAGS": "-mod=readonly",\n'
              '\t"GOVERSION": "go1.26.2"\n}\n'  # go-mod's stdout, then go-build's and go-deps' fetch counts
              'flamenco-pipeline: module zips fetched: 63 (go list -deps of the binaries)\n'
              'flamenco-pipeline: module zips fetched: 83 (go mod download)\n')
    r = report_dagger_adapter.dagger_lane_report(timings, stamp=STAMP, go_version="1.26.2", go_module_output=go_out,
                              base_outputs={"node-base": "v22.1.0\n1.22.22\n"}, wall_seconds=46.0)
    jsonschema.validate(r, report_schema.SCHEMA)
    by = {s["name"]: s for s in r["stages"]}
    assert by["go-mod"]["start"] == 2.0 and by["go-mod"]["seconds"] == 1.0
    assert by["go-build@linux/amd64"]["start"] == 11.0  # after go-source; not the web app, not the tools
    assert by["go-deps"]["start"] == 30.0  # every module, after go-build's compile
    assert by["app@linux/amd64"]["start"] == 30.0  # after go-build, webapp and addon
    assert by["gotestsum"]["start"] == 30.0  # after go-build's packages are in the Go build cache
    assert by["worker@linux/amd64"]["start"] == 30.0  # the worker binary comes from go-build
    assert r["critical_path"]["stages"] == ["go-base", "go-mod", "go-source", "go-build@linux/amd64",
                                            "worker@linux/amd64"]
    assert r["go_module_settings"]["module_zips_fetched"] == 63 + 83
    assert r["go_module_settings"]["values"] == {"GOFLAGS": "-mod=readonly", "GOVERSION": "go1.26.2"}
    assert r["tool_versions"]["go"]["version"] == "go1.26.2" and r["tool_versions"]["yarn"]["version"] == "1.22.22"
    assert all(s["cached"] is None for s in r["stages"])


def test_the_dagger_module_writes_the_three_report_files():
    """FlamencoPipeline._report/_with_report, offline: schema-valid, and all three land in dist/."""
    from dagger import dag

    p = make_pipeline()
    timings = {"go-base": {"started": 0.0, "finished": 1.5, "ok": True},
               "go-deps": {"started": 0.0, "finished": 4.0, "ok": False, "error": "exit code: 1"}}
    report = p._report(timings, {"test_exit_code": 0}, {"size:manager": 123}, 5.0)
    jsonschema.validate(report, report_schema.SCHEMA)
    assert report["lane"] == "dagger" and report["test_exit_code"] == 0
    assert report["images"]["manager"]["size_bytes"] == 123 and report["images"]["worker"]["size_bytes"] is None
    assert report["stamp"] == STAMP and report["stages"][1]["status"] == "failed"
    files = {c.args["path"]: c.args["contents"] for c in calls(p._with_report(dag.directory(), report), "withNewFile")}
    assert set(files) == {"build-report.json", "build-report.md", "build-timeline.svg"}
    assert json.loads(files["build-report.json"]) == json.loads(json.dumps(report))
    assert "(build-timeline.svg)" in files["build-report.md"]


def test_concurrent_builds_share_one_clock():
    """The container lane's default build: four `docker build`s at once, from nothing.

    A step one build ran is a cache hit in the others, and that hit could only come once
    the step was done: the report places it (and what follows) no earlier."""
    from pipeline.docker_lane import buildkit_log

    meta = json.loads((COLD.parent / "buildkit-plain-concurrent.json").read_text())
    logs = [report_docker_adapter.TargetLog(t, (COLD.parent / name).read_text(), started=0.0, seconds=meta["wall_seconds"][t])
            for t, name in meta["logs"].items()]
    r = report_docker_adapter.docker_lane_report(logs, {"manager": "m", "worker": "w"}, inspect=False)
    jsonschema.validate(r, report_schema.SCHEMA)
    by = {s["name"]: s for s in r["stages"]}
    wall = max(meta["wall_seconds"].values())
    assert 0.9 * wall <= r["timing"]["timeline_seconds"] <= wall
    go_test_step = next(st for st in by["test"]["steps"] if st["name"] == "go test")
    assert go_test_step["start"] >= max(by["gotestsum"]["end"], by["go-deps"]["end"], by["go-source"]["end"]) - 0.01
    assert by["(export worker)"]["start"] >= by["go-build"]["end"]  # the worker copies from go-build
    assert by["worker"]["busy_seconds"] > 20  # FFmpeg's install, beside the Go compile
    # go-build starts once go-source is there (not after a full download); the tools and
    # go-deps start after it, and the images are exported before the tests end
    assert by["go-build"]["start"] >= by["go-source"]["end"] and by["go-build"]["start"] < 10
    for after in ("gotestsum", "go-deps", "app"):
        assert by[after]["start"] >= by["go-build"]["end"] - 0.01, after
    assert by["(export manager)"]["end"] < by["test"]["end"]
    assert r["critical_path"]["stages"] == ["go-base", "go-mod", "go-source", "go-build", "gotestsum", "test",
                                            "reports", "(export reports)"]
    assert r["go_module_settings"]["module_zips_fetched"] == 2  # uuid by go-build, mage by go-deps
    # In the reports build's own log go-build is a cache hit (the worker build ran it), so that
    # log alone places go test before go-build really ended; on one clock it starts after.
    alone = buildkit_log.parse(logs[2].text)
    spans = buildkit_log.timeline(alone, report_docker_adapter.DOCKER_PARENTS)
    assert logs[2].target == "reports"
    (go_build,) = [v for v in alone.stage_steps("go-build") if v.instruction == "RUN"]
    go_test = next(v for v in alone.stage_steps("test") if v.instruction == "RUN")
    go_install = next(v for v in alone.stage_steps("gotestsum") if v.instruction == "RUN")
    assert go_build.cached and spans[go_test.id].start >= spans[go_install.id].end
    on_one_clock = next(st for st in by["test"]["steps"] if st["name"] == "go test")
    assert spans[go_test.id].start < by["go-build"]["end"] <= on_one_clock["start"]


# --- test outcome, failed vs cancelled, internal rows -------------------------------
DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def failed_report() -> dict:
    """A real failed run: yarn install failed on TLS in manager's build, which cancelled build-tools."""
    logs = [report_docker_adapter.TargetLog(t, (DATA / f"buildkit-plain-yarn-tls-{t}.log").read_text(), started=0.0, seconds=8.0)
            for t in ("manager", "reports")]
    tests = report_facts.test_outcome(DATA / "junit-flamenco-mini-fail.xml")
    return report_docker_adapter.docker_lane_report(logs, inspect=False, tests=tests)


def test_report_carries_test_counts_from_the_junit_report(failed_report):
    from pipeline.reports.junit import parse

    jsonschema.validate(failed_report, report_schema.SCHEMA)
    junit = parse(DATA / "junit-flamenco-mini-fail.xml")
    t = failed_report["tests"]
    assert (t["passed"], t["failed"], t["skipped"]) == (junit.count("passed"), junit.count("failed"), junit.count("skipped"))
    assert t["failures"] == ["example.com/flamenco-mini/internal/appinfo.TestFixtureCanFail"]
    md = report_markdown.render_markdown(failed_report)
    assert f"**Tests:** {t['passed']} passed, 1 failed, {t['skipped']} skipped" in md
    assert "TestFixtureCanFail" in md
    svg = ET.fromstring(report_svg.render_svg(failed_report))
    assert f"tests: {t['passed']} passed, 1 failed" in svg.find(f"{SVG_NS}title").text


def test_test_counts_show_on_the_timelines_test_row():
    report = report_dagger_adapter.dagger_lane_report({"go-source": {"started": 0, "finished": 1.0}, "test": {"started": 0, "finished": 5.0}},
                                   tests={"passed": 3, "failed": 0, "skipped": 1, "source": "x"})
    texts = [t.text for t in ET.fromstring(report_svg.render_svg(report)).iter(f"{SVG_NS}text")]
    assert any(t and t.startswith("4.0 s") and "3 passed, 0 failed, 1 skipped" in t for t in texts), texts


def test_failed_and_cancelled_stages_are_marked_differently(failed_report):
    by = {s["name"]: s for s in failed_report["stages"]}
    assert by["web-deps"]["status"] == "failed" and by["build-tools"]["status"] == "canceled"
    md = report_markdown.render_markdown(failed_report).splitlines()
    row = lambda name: next(ln for ln in md if ln.startswith(f"| {name} |"))  # noqa: E731
    assert "**FAILED**" in row("web-deps") and "cancelled" not in row("web-deps")
    assert "cancelled" in row("build-tools") and "FAILED" not in row("build-tools") and "ran" not in row("build-tools")
    svg = ET.fromstring(report_svg.render_svg(failed_report))
    fills = {}
    for rect in svg.iter(f"{SVG_NS}rect"):
        tip = rect.find(f"{SVG_NS}title")
        if tip is not None:
            fills.setdefault(tip.text.split(":")[0], set()).add((rect.get("fill"), rect.get("stroke-dasharray")))
    assert fills["web-deps"] == {(report_svg._C_FAIL, None)}
    assert fills["build-tools"] == {(report_svg._C_CANCEL, "3 2")}
    legend = [t.text for t in svg.iter(f"{SVG_NS}text")]
    assert "failed" in legend and any(t and t.startswith("cancelled") for t in legend)


def test_critical_path_ends_at_the_failure_not_at_what_was_cancelled_later(failed_report):
    assert failed_report["critical_path"]["stages"][-1] == "web-deps"
    stages = [dict(s) for s in failed_report["stages"]]
    for s in stages:  # the cancelled stage ending last must not pull the path to itself
        if s["name"] == "build-tools":
            s["end"] = 30.0
    assert report_docker_adapter._stage_critical_path(stages)["stages"][-1] == "web-deps"
    dagger = report_dagger_adapter.dagger_lane_report({
        "go-deps": {"started": 0, "finished": 2.0},
        "go-source": {"started": 0, "finished": 2.5},
        "test": {"started": 0, "finished": 4.0, "ok": False, "error": "boom"},
        "app@linux/amd64": {"started": 0, "finished": 9.0},
    })
    assert dagger["critical_path"]["stages"][-1] == "test"
    assert dagger["critical_path"]["seconds"] == pytest.approx(4.0 - dagger["critical_path"]["segments"][0]["start"])


def test_internal_rows_are_summed_up_not_listed(failed_report):
    assert any(s["kind"] == "internal" for s in failed_report["stages"])  # kept in the JSON record
    md = report_markdown.render_markdown(failed_report)
    assert "| (internal) |" not in md and "BuildKit's own work" in md
    names = [t.text for t in ET.fromstring(report_svg.render_svg(failed_report)).iter(f"{SVG_NS}text")]
    assert "(internal)" not in names
