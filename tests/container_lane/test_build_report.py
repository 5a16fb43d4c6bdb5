"""build-report.json/.md/.svg from the real BuildKit logs of the session's default build."""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET

import jsonschema
import pytest

from pipeline.core import spec
from pipeline.reports.docker_adapter import TargetLog, docker_lane_report
from pipeline.reports.files import write_report_files
from pipeline.reports.schema import SCHEMA

from .conftest import GO_VERSION, STAMP
from .engine import run_docker
from .engine import lane_log  # noqa: E402

pytestmark = pytest.mark.docker

STAGES = {"go-base", "node-base", "python-base", "go-mod", "go-deps", "go-verify", "web-deps", "gotestsum", "webapp", "addon",
          "go-source", "go-build", "app", "test", "manager", "worker", "reports", "binaries"}
GO_ENV_VARS = ("GOVERSION", "GOTOOLCHAIN", "GOPROXY", "GOSUMDB", "GOPRIVATE", "GONOSUMDB", "GONOPROXY", "GOFLAGS",
               "GOMODCACHE", "GOCACHE")


@pytest.mark.timeout(1800)
def test_build_report_of_the_default_build(lane, default_build, fixture_copy, tmp_path):
    # the four `docker build`s of the default build started together
    logs = [TargetLog(t, r.output, started=0.0, seconds=r.seconds) for t, r in default_build.results.items()]
    images = {"manager": default_build.manager, "worker": default_build.worker}
    settings = lane.settings()

    def make_report():
        return docker_lane_report(logs, images, settings=settings, stamp=STAMP, go_version=GO_VERSION)

    report = default_report = make_report()
    if report["go_module_settings"]["values"] is None:
        # A warm engine served go-mod from its cache in every build, so no log has its output.
        # Re-run just that step (a go.mod comment changes its input) and add that real log too.
        src = fixture_copy("report-go-env")
        (src / "go.mod").write_text((src / "go.mod").read_text() + f"\n// build report test {uuid.uuid4()}\n")
        extra = lane.build("go-mod", src, label="go-mod (go env for the report)").check()
        logs.append(TargetLog("go-mod", extra.output, seconds=extra.seconds))
        report = make_report()
    paths = write_report_files(report, tmp_path)
    lane_log(f"build report: {paths['markdown']} ({report['timing']})")

    # the JSON: schema, every stage of the four targets, exports
    data = json.loads(paths["json"].read_text())
    jsonschema.validate(data, SCHEMA)
    names = {s["name"] for s in data["stages"]}
    assert STAGES <= names, sorted(STAGES - names)
    assert {f"(export {t})" for t in ("manager", "worker", "reports", "binaries")} <= names
    for s in data["stages"]:
        assert s["end"] >= s["start"] >= 0
        non_from = [st for st in s.get("steps", []) if st["instruction"] != "FROM"]
        if s["kind"] == "stage" and non_from:
            assert s["cached"] == all(st["cached"] for st in non_from), s
    # BuildKit rounds each DONE duration to 0.1 s, so the reconstruction may pass the wall by up
    # to 0.05 s per step on its critical path (warm builds: a wall of a few seconds, many steps).
    # On the default build's own report: the extra go-mod log above ran after it, not at its start.
    timing, path = default_report["timing"], default_report["critical_path"]["stages"]
    every = {s["name"]: s for s in default_report["stages"]}
    on_path = sum(len(every[n].get("steps", [])) for n in path if n in every)
    assert timing["timeline_seconds"] <= timing["wall_seconds"] + 1.0 + 0.05 * on_path
    assert path and path[-1].startswith("(export ")

    # cache flags are plausible: a stage that ran makes every stage built FROM it run, in some build
    # of the default build (concurrent builds share work: one runs a step, the others see a cache hit).
    # Not the stages that only COPY --from it: that copy is content-addressed, so a re-run that
    # rebuilt identical files (Go builds are reproducible: go-build -> worker, app -> manager, the
    # exports) is a cache hit there.
    by = {s["name"]: s for s in default_report["stages"] if s["kind"] == "stage"}
    for name, s in by.items():
        parent = spec.stage(name).parent if name not in spec.EXPORTS else None
        if parent in by and by[parent]["cached"] is False:
            assert s["cached"] is False, f"{parent} ran but {name} (FROM {parent}) was a cache hit"
    if by["go-mod"]["cached"] is False:
        assert default_report["go_module_settings"]["values"] is not None
    if by["go-build"]["cached"] is False or by["go-deps"]["cached"] is False:
        assert isinstance(default_report["go_module_settings"]["module_zips_fetched"], int)

    # Go module settings: what the build printed equals `go env` in a tool stage's image
    values = data["go_module_settings"]["values"]
    tag = "flamenco-lane/gotestsum:report-test"
    lane.build("gotestsum", default_build.context, tag=tag, label="gotestsum (go env)").check()
    try:
        out = run_docker(["run", "--rm", "--entrypoint", "go", tag, "env", "-json", *GO_ENV_VARS]).stdout
    finally:
        run_docker(["rmi", tag], check=False)
    assert values == json.loads(out)
    assert values["GOFLAGS"] == settings.goflags and values["GOVERSION"] == f"go{GO_VERSION}"

    # images and tools
    for kind in ("manager", "worker"):
        assert data["images"][kind]["size_bytes"] > 0, data["images"]
    assert data["images"]["worker"]["size_bytes"] > data["images"]["manager"]["size_bytes"]  # FFmpeg
    assert data["tool_versions"]["go"]["version"] == f"go{GO_VERSION}"
    assert "docker engine" in data["tool_versions"]

    # the views
    md = paths["markdown"].read_text()
    assert "(build-timeline.svg)" in md and "## Critical path" in md
    for stage in STAGES:
        assert f"| {stage} |" in md
    svg = ET.fromstring(paths["svg"].read_text())
    labels = {e.text for e in svg.iter("{http://www.w3.org/2000/svg}text")}
    assert STAGES <= labels
