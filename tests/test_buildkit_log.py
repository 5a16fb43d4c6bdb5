"""pipeline.docker_lane.buildkit_log on BuildKit output captured from real builds (tests/data/).

``buildkit-plain-app-cold.log``: Dockerfile.dev ``--target app`` of the fixture
from nothing (--no-cache, fresh cache-mount ids; Docker 20.10's BuildKit, 2 cores); its wall time is
in the ``.json`` beside it. ``buildkit-plain-go-mod-refused.log``: the go-mod
guard refusing ``GOPROXY=direct``. Both passed through
scripts/redact_buildkit_log.py, which only removes host names; scripts/capture_buildkit_logs.py
makes them again.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pipeline.docker_lane import buildkit_log
from pipeline.core import spec
from pipeline.reports.docker_adapter import DOCKER_PARENTS
from pipeline.reports.facts import go_env_from_output, modules_fetched

DATA = Path(__file__).parent / "data"
COLD = DATA / "buildkit-plain-app-cold.log"
REFUSED = DATA / "buildkit-plain-go-mod-refused.log"
# --target app needs neither the tools nor go-deps/go-verify (issue 11: they are off the images' path)
# the fixture's binaries import one module (github.com/google/uuid); mage is its magefiles' only
FIXTURE_BINARY_MODULES = 1
APP_STAGES = {"go-base", "node-base", "python-base", "go-mod", "web-deps", "webapp", "addon", "go-source", "go-build",
              "app"}


@pytest.fixture(scope="module")
def cold():
    return buildkit_log.parse(COLD.read_text())


@pytest.fixture(scope="module")
def cold_wall() -> float:
    return json.loads(COLD.with_suffix(".json").read_text())["wall_seconds"]


def test_every_stage_and_step_of_the_target_is_found(cold):
    assert {v.stage for v in cold.steps} == APP_STAGES
    for stage in APP_STAGES:
        steps = cold.stage_steps(stage)
        count = max(s.count for s in steps)  # BuildKit prints [go-base 2/3] then [go-base 3/4] around USER
        assert [s.index for s in steps] == list(range(1, count + 1)), stage
    run = cold.step("go-mod", 3)
    assert run.instruction == "RUN" and run.title.startswith("[go-mod 3/3] RUN --mount=type=cache")
    assert cold.step("app", 1).copy_from == "webapp" and cold.step("app", 2).copy_from == "addon"
    assert [v.title for v in cold.vertices if v.is_export] == ["exporting to image"]


def test_cold_build_ran_every_step_with_a_duration(cold):
    for v in cold.steps:
        if v.instruction == "WORKDIR":  # BuildKit answers WORKDIR from its cache even with --no-cache
            continue
        assert v.status == "done" and not v.cached, v.title
        assert v.seconds is not None and v.seconds >= 0
    # go build of both binaries from an empty Go build cache; app then compiles two packages and links
    assert cold.step("go-build", 1).seconds > 10 > cold.step("app", 3).seconds
    assert cold.error is None


def test_output_is_what_steps_printed_never_their_scripts(cold):
    """Titles of RUN steps hold whole scripts; only `#N <seconds> <text>` lines are output."""
    go_mod = cold.step("go-mod", 3)
    assert "proxies=" in go_mod.title  # the guard script is in the title...
    emitted = buildkit_log.step_output(COLD.read_text())
    assert "proxies=" not in emitted  # ...and never in what was printed
    assert "flamenco-pipeline: effective Go module settings:" in go_mod.text
    assert all(t >= 0 for t, _ in go_mod.output)
    assert [t for t, _ in go_mod.output] == sorted(t for t, _ in go_mod.output)
    assert cold.step("go-base", 3).text.splitlines() == ["go version go1.26.2 linux/amd64", "git version 2.39.5"]


def test_go_env_block_and_download_count(cold):
    lines = [t for _, t in cold.step("go-mod", 3).output]
    env = go_env_from_output(lines)
    assert env["GOFLAGS"] == "-mod=readonly"
    assert env["GOTOOLCHAIN"] == "auto"
    assert env["GOMODCACHE"] == spec.GOMODCACHE.path and env["GOCACHE"] == spec.GOCACHE.path
    assert env["GOVERSION"] == "go1.26.2"
    assert env["GOPRIVATE"] == env["GONOSUMDB"] == env["GONOPROXY"] == ""
    # go-build fetched the modules the fixture's binaries import, from an empty module cache
    assert modules_fetched([t for _, t in cold.step("go-build", 1).output]) == FIXTURE_BINARY_MODULES


def test_compat_helpers_of_the_container_lane(cold):
    steps = buildkit_log.parse_plain_progress(COLD.read_text())
    app_run = [t for t in steps if t.startswith("[app 3/3] RUN")]
    assert len(app_run) == 1 and steps[app_run[0]] == {"cached": False, "seconds": cold.step("app", 3).seconds}
    assert any(t.startswith("[internal] load build context") for t in steps)


def test_timeline_respects_durations_dependencies_and_completion_order(cold, cold_wall):
    spans = buildkit_log.timeline(cold, DOCKER_PARENTS)
    assert set(spans) == {v.id for v in cold.vertices}
    for v in cold.vertices:
        s = spans[v.id]
        assert s.end - s.start == pytest.approx(v.duration, abs=0.002), v.title
        for dep in buildkit_log.dependencies(cold, v, DOCKER_PARENTS):
            assert s.start >= spans[dep.id].end - 0.002, (v.title, dep.title)
    ends = [spans[v.id].end for v in cold.completion_order()]
    assert ends == sorted(ends)
    makespan = max(s.end for s in spans.values())
    # a lower bound of the measured wall time that still explains nearly all of it
    assert 0.9 * cold_wall <= makespan <= cold_wall


def test_timeline_shows_parallel_stages(cold):
    spans = buildkit_log.timeline(cold, DOCKER_PARENTS)

    def interval(stage):
        ss = [spans[v.id] for v in cold.stage_steps(stage) if spans[v.id].end > spans[v.id].start]
        return min(s.start for s in ss), max(s.end for s in ss)

    (a0, a1), (_, b1) = interval("web-deps"), interval("app")
    c0, c1 = interval("go-build")
    assert a0 < c1 and c0 < a1, "yarn install and go-build ran side by side"
    assert interval("webapp")[1] < b1, "the web app was built while the Go chain ran"


def test_critical_path_is_the_go_chain(cold):
    path = buildkit_log.critical_path(buildkit_log.timeline(cold, DOCKER_PARENTS))
    stages = [s.vertex.stage for s in path if s.vertex.is_step]
    assert path[-1].vertex.is_export
    order = [st for i, st in enumerate(stages) if i == 0 or stages[i - 1] != st]
    # the images' path: the Go chain or the web app beside it (on the fixture the two take about
    # as long), never a tool or go-verify
    assert order in (["go-base", "go-mod", "go-source", "go-build", "app"],
                     ["node-base", "web-deps", "webapp", "app"]), order


def test_failed_build_error_and_epilogue():
    log = buildkit_log.parse(REFUSED.read_text())
    v = log.step("go-mod", 3)
    assert v.status == "error" and v.seconds is None
    assert v.error.startswith("executor failed running [sh -c set -e") and v.error.endswith("exit code: 2")
    # the refusal, printed once (the epilogue that repeats the failed step is not output)
    assert [t for _, t in v.output] == [
        "flamenco-pipeline: GOPROXY='direct' bypasses the module proxy; unset it or set ALLOW_UNSAFE_GO_MODULES=1"
    ]
    assert v.duration == pytest.approx(v.output[0][0])
    assert log.failed_steps and log.failed_steps[0].startswith("[go-mod 3/3] RUN")
    assert log.error.startswith("executor failed running") and log.error.rstrip().endswith("exit code: 2")
    assert [s.vertex.stage for s in buildkit_log.critical_path(buildkit_log.timeline(log, DOCKER_PARENTS))][-1] == "go-mod"


def test_interleaved_blocks_reannounced_titles_and_multiline_errors():
    """The shapes BuildKit's plain printer makes when vertices interleave (hand-written)."""
    text = "\n".join([
        "#1 [a 1/2] RUN sh -c 'echo #2 0.5 not output'",
        "#1 sha256:" + "a" * 64,
        "#1 0.101 first",
        "#1 ...",
        "",
        "#2 [b 1/1] RUN work",
        "#2 sha256:" + "b" * 64,
        "#2 0.300 \ttabbed",
        "#2 0.310 ",
        "#2 DONE 0.4s",
        "",
        "#1 [a 1/2] RUN sh -c 'echo #2 0.5 not output'",
        "#1 sha256:" + "a" * 64,
        "#1 1.500 second",
        "#1 DONE 1.6s",
        "",
        "#3 [a 2/2] RUN fail",
        "#3 0.050 boom",
        "#3 ERROR: executor failed running [fail]:",
        "line two of the error",
        "------",
        " > [a 2/2] RUN fail:",
        "#3 0.050 boom",
        "------",
        "executor failed running [fail]: exit code: 1",
    ])
    log = buildkit_log.parse(text)
    a1, b, a2 = log.step("a", 1), log.step("b", 1), log.step("a", 2)
    assert [t for _, t in a1.output] == ["first", "second"] and a1.seconds == 1.6
    assert [t for _, t in b.output] == ["\ttabbed", ""]
    assert a2.error == "executor failed running [fail]:\nline two of the error"
    assert [t for _, t in a2.output] == ["boom"]
    assert log.error == "executor failed running [fail]: exit code: 1"
    assert [v.id for v in log.completion_order()] == [2, 1, 3]
    spans = buildkit_log.timeline(log, {"a": None, "b": None})
    assert spans[2].start == 0 and spans[2].end == pytest.approx(0.4)
    assert spans[1].end == pytest.approx(1.6) and spans[3].start == pytest.approx(1.6)


def test_stage_parents_from_the_dockerfile():
    parents = buildkit_log.stage_parents_from_dockerfile(Path(spec.__file__).parents[2].joinpath("Dockerfile.dev").read_text())
    assert parents["go-deps"] == parents["go-source"] == "go-mod" and parents["go-mod"] == "go-base"
    assert parents["go-base"] is None and parents["reports"] is None
    assert {k: v for k, v in parents.items() if k in DOCKER_PARENTS} == {
        k: v for k, v in DOCKER_PARENTS.items() if k in parents
    }


def test_test_data_names_no_registry_host():
    """The captured logs keep only .invalid placeholders where hosts were (house rule)."""
    from scripts.redact_buildkit_log import redact

    for path in DATA.glob("buildkit-plain-*.log"):
        text = path.read_text()
        assert redact(text) == text, f"{path.name} is not redacted: run scripts/redact_buildkit_log.py"
        for host in re.findall(r"https?://([A-Za-z0-9.-]+)", text):
            assert host.endswith(".invalid"), (path.name, host)
        assert not re.search(r"(FROM|metadata for|naming to) [a-z0-9-]+\.[a-z0-9.-]+/", text), path.name
