"""What only shows on a real engine, checked offline through the real SDK (issue 13).

The engine is the one thing replaced: where a function needs its answer (a container's
platform, a file's contents, an exec's exit code or error), the SDK call that would ask
it answers like the engine does. Everything between our functions runs as written, and
the assertions read the query chain the SDK would send.
"""

from __future__ import annotations

import json
import subprocess
import sys

import anyio
import dagger
import gql
import pytest
from click.testing import CliRunner
from dagger._exceptions import QueryErrorValue

from pipeline.core import spec
from pipeline.core.settings import SettingsError
from tests.conftest import answer_platforms, make_pipeline
from tests.querychain import calls, chain, exec_env

TWO = ["linux/amd64", "linux/arm64"]


def canonical(obj, drop: tuple[str, ...] = ()) -> list:
    """The whole query chain of a lazy object, nested objects included, as plain data
    (without the calls named in `drop`, at any depth)."""

    def value(v):
        if hasattr(v, "_ctx"):
            return canonical(v, drop)
        if isinstance(v, (list, tuple)):
            return [value(x) for x in v]
        return getattr(v, "value", v)

    return [(c.name, sorted((k, json.dumps(value(v), default=str)) for k, v in c.args.items()))
            for c in chain(obj) if c.name not in drop]


def every_stage(p) -> dict:
    g = p._graph()
    out = {}
    for st in spec.STAGES:
        for plat in (p._settings().platforms if st.platform == "target" else [None]):
            out[f"{st.name}@{plat}"] = g.container(st.name, plat)
    return out


def exec_error(script: str, stderr: str, code: int = 1) -> dagger.ExecError:
    """The error the engine returns for a failed exec (its message is only the exit code)."""
    ext = {"_type": "EXEC_ERROR", "cmd": ["sh", "-c", script], "exitCode": code, "stdout": "", "stderr": stderr}
    req = gql.GraphQLRequest(gql.gql("query { defaultPlatform }"))
    return dagger.QueryError([QueryErrorValue(message=f"exit code: {code} [traceparent:00-0af7-b7ad-01]",
                                              extensions=ext)], req)


# --- run-time-only values stay out of cache keys and images ---------------------------------------
def _without_volatile(obj) -> list:
    return canonical(obj, drop=("withVolatileVariable",))


def test_step_timeout_is_a_volatile_variable_of_every_exec_and_in_no_cache_key():
    a, b = make_pipeline(step_timeout=900, platforms=TWO), make_pipeline(step_timeout=31, platforms=TWO)
    stages_a, stages_b = every_stage(a), every_stage(b)
    for name, ctr in stages_a.items():
        volatile = {c.args["name"]: c.args["value"] for c in calls(ctr, "withVolatileVariable")}
        assert volatile == {"STEP_TIMEOUT": "900"}, name
        assert all("STEP_TIMEOUT" not in e for _, e, _ in exec_env(ctr)), f"{name}: STEP_TIMEOUT as a plain env var"
        # Everything the engine keys a cached exec on is the same for both timeouts.
        assert _without_volatile(ctr) == _without_volatile(stages_b[name]), name
    assert {c.args["value"] for c in calls(stages_b["go-deps@None"], "withVolatileVariable")} == {"31"}


@pytest.mark.parametrize("kind", ["manager", "worker"])
def test_runtime_images_carry_no_run_time_value(kind):
    p = make_pipeline(step_timeout=31)
    ctr = getattr(p, kind)()
    # The image config is what withEnvVariable builds; volatile variables are "not persisted
    # into the container image config" (docs version-0.21.4 cookbook/containers.mdx).
    assert [c.args["name"] for c in calls(ctr, "withVolatileVariable")] == ["STEP_TIMEOUT"]
    env_names = {c.args["name"] for c in calls(ctr, "withEnvVariable")}
    assert env_names.isdisjoint({"STEP_TIMEOUT", "FLAMENCO_INTEGRATION_RUN"})


def test_the_integration_run_id_reaches_only_the_checker():
    p = make_pipeline()
    canary = "run0canary42"
    checker = p._integration_checker(2, canary)
    env = {c.args["name"]: c.args["value"] for c in calls(checker, "withEnvVariable")}
    assert env["FLAMENCO_INTEGRATION_RUN"] == canary, "the checker's exec must never be a cache hit"
    for name, ctr in every_stage(p).items():
        assert canary not in json.dumps(canonical(ctr)), name
    for kind in ("manager", "worker"):
        assert canary not in json.dumps(canonical(getattr(p, kind)())), kind
        assert canary not in json.dumps(canonical(p._image_tarball(kind))), kind


# --- platforms --------------------------------------------------------------------------------------
def test_single_arch_runtime_image_is_refused_with_one_line_naming_it(monkeypatch):
    p = make_pipeline(platforms=TWO, runtime_image="registry.example/debian-single:12")
    answer_platforms(monkeypatch, single_arch={"registry.example/debian-single:12": "linux/amd64"})
    with pytest.raises(SettingsError) as e:
        anyio.run(p.build)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith("invalid setting runtime_image='registry.example/debian-single:12': has no linux/arm64 variant")
    assert "resolved it to linux/amd64" in msg and "--platforms" in msg


def test_multi_platform_images_pass_the_check(monkeypatch):
    p = make_pipeline(platforms=TWO)
    answer_platforms(monkeypatch)
    anyio.run(p._check_platforms)  # every target stage reports the platform it was asked for


def test_the_platform_probe_is_the_stage_own_first_call():
    """The check asks about the exact `from` the runtime stage starts with (same query)."""
    p = make_pipeline(platforms=TWO)
    g = p._graph()
    probe = canonical(g.image_root("worker", "linux/arm64"))
    assert canonical(g.container("worker", "linux/arm64"))[: len(probe)] == probe
    assert calls(g.image_root("worker", "linux/arm64"), "container")[0].args["platform"] == "linux/arm64"


def test_build_platform_is_the_engine_default_platform():
    p = make_pipeline(engine_platform="linux/arm64")
    keys = {k for _, _, m in exec_env(p.build_tools()) for k in m.values() if k.startswith("flamenco-gobuild")}
    assert keys and all(k.endswith("-linux-arm64-uid10002") for k in keys), keys  # + the build user (issue 10 §2)
    assert p.build_platform == "linux/arm64"


# --- reports come back ------------------------------------------------------------------------------
def test_reports_dir_exists_before_the_test_and_checker_execs(pipeline):
    for ctr, reports in ((pipeline.test_container(), spec.REPORTS),
                         (pipeline._integration_checker(1, "r1"), f"{spec.CHECKER_DIR}/reports")):
        names = [(c.name, c.args.get("path")) for c in chain(ctr)]
        made = names.index(("withDirectory", reports))
        last_exec = max(i for i, (n, _) in enumerate(names) if n == "withExec")
        assert made < last_exec, f"{reports} must exist before the exec that writes it"


def test_test_stopped_before_writing_exit_code_reports_the_exec_code(monkeypatch, pipeline):
    """A timeout (exit 124) kills gotestsum before `exit-code` exists: the result still comes back."""

    async def contents(self):
        raise exec_error("cat", "no such file or directory: /reports/exit-code")

    async def exit_code(self):
        return 124

    monkeypatch.setattr(dagger.File, "contents", contents)
    monkeypatch.setattr(dagger.Container, "exit_code", exit_code)
    result = anyio.run(pipeline.test)
    assert result.exit_code == 124
    assert chain(result.reports)[-1].args["path"] == spec.REPORTS


# --- failures say why -------------------------------------------------------------------------------
def _check_script() -> str:
    (run,) = [s for s in spec.stage("check").steps if isinstance(s, spec.Run)]
    return spec.step_script(run)


def test_a_failed_exec_names_its_step_and_last_stderr_lines():
    from pipeline.dagger_lane.results import describe_failure

    stderr = ("\n\nflamenco-pipeline: gofmt would change:\ninternal/a.go\ninternal/b.go\n"
              "[traceparent:00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01]\n")
    f = describe_failure(exec_error(_check_script(), stderr))
    assert f["step"] == "vet, gofmt, staticcheck"
    assert f["stderr"] == ["flamenco-pipeline: gofmt would change:", "internal/a.go", "internal/b.go"]
    assert f["message"].startswith("step 'vet, gofmt, staticcheck' failed (exit 1): ")
    assert "internal/b.go" in f["message"] and "traceparent" not in f["message"]


def test_a_timed_out_step_says_so():
    from pipeline.dagger_lane.results import describe_failure

    (run,) = [s for s in spec.stage("go-deps").steps if isinstance(s, spec.Run)]
    msg = "flamenco-pipeline: step 'go mod download' took longer than 10s and was stopped"
    f = describe_failure(exec_error(spec.step_script(run), msg, 124))
    assert f["step"] == "go mod download" and f["exit_code"] == 124 and f["stderr"][-1] == msg


def _ci_result_json(dist) -> dict:
    (f,) = [c for c in calls(dist, "withNewFile") if c.args["path"] == "ci-result.json"]
    return json.loads(f.args["contents"])


def _report_json(dist) -> dict:
    (f,) = [c for c in calls(dist, "withNewFile") if c.args["path"] == "build-report.json"]
    return json.loads(f.args["contents"])


@pytest.fixture
def engine_answers(monkeypatch):
    """The engine's answers for one ci run: what each sync, test read and check gives."""
    answers: dict = {"sync": {}, "test_code": "0"}
    names = {spec.step_script(s): st.name for st in spec.STAGES for s in st.steps if isinstance(s, spec.Run)}

    async def sync(self):
        execs = [c.args["args"][-1] for c in calls(self, "withExec")]
        stage = names.get(execs[-1]) if execs else None
        if stage in answers["sync"]:
            raise answers["sync"][stage]
        return self

    async def contents(self):
        if isinstance(answers["test_code"], Exception):
            raise answers["test_code"]
        return answers["test_code"]

    async def stdout(self):
        return ""

    async def size(self):
        return 1234

    monkeypatch.setattr(dagger.Container, "sync", sync)
    monkeypatch.setattr(dagger.Container, "stdout", stdout)
    monkeypatch.setattr(dagger.File, "contents", contents)
    monkeypatch.setattr(dagger.File, "size", size)
    monkeypatch.setattr("pipeline.dagger_lane.main.FlamencoPipeline.integration_test",
                        lambda self, workers=3: _passing_integration())
    answer_platforms(monkeypatch)
    return answers


async def _passing_integration():
    from pipeline.dagger_lane.results import TestResult

    return TestResult(reports=dagger.dag.directory().with_new_file("integration.xml", "<testsuites/>"), exit_code=0)


def test_ci_failure_text_reaches_ci_result_report_and_verdict(engine_answers, tmp_path):
    engine_answers["sync"]["check"] = exec_error(_check_script(), "flamenco-pipeline: gofmt would change:\nweb.go\n")
    result = anyio.run(make_pipeline().ci)
    assert result.exit_code == 1
    doc = _ci_result_json(result.dist)
    assert doc["outcome"]["check"].startswith("failed: step 'vet, gofmt, staticcheck' failed (exit 1)")
    assert doc["failures"]["check"]["stderr"] == ["flamenco-pipeline: gofmt would change:", "web.go"]
    assert _report_json(result.dist)["failures"]["check"]["step"] == "vet, gofmt, staticcheck"
    # the CI verdict reads exactly this file
    path = tmp_path / "ci-result.json"
    path.write_text(json.dumps(doc))
    from pipeline.cli.app import main

    r = CliRunner().invoke(main, ["verdict", str(path)])
    assert r.exit_code == 1
    assert "check: failed: step 'vet, gofmt, staticcheck'" in r.output and "web.go" in r.output


def test_a_failed_build_stage_is_named_in_the_report(engine_answers):
    (run,) = [s for s in spec.stage("app").steps if isinstance(s, spec.Run)]
    engine_answers["sync"]["app"] = exec_error(spec.step_script(run), "cmd/x/main.go:3:1: syntax error\n")
    result = anyio.run(make_pipeline().ci)
    doc = _ci_result_json(result.dist)
    assert doc["outcome"]["build"].startswith("failed in app@linux/amd64")
    assert doc["failures"]["build"]["step"] == "go build manager"
    rows = {s["name"]: s for s in _report_json(result.dist)["stages"]}
    assert rows["app@linux/amd64"]["status"] == "failed"
    assert "cmd/x/main.go:3:1: syntax error" in rows["app@linux/amd64"]["error"]


def test_a_transport_error_in_one_part_keeps_the_ci_result(engine_answers):
    engine_answers["test_code"] = dagger.TransportError("connection reset by peer")
    result = anyio.run(make_pipeline().ci)
    assert result.exit_code == 1
    doc = _ci_result_json(result.dist)
    assert doc["outcome"]["test"] == "failed: TransportError: connection reset by peer"
    assert doc["outcome"]["check"] == doc["outcome"]["build"] == doc["outcome"]["integration"] == "passed"


def test_a_transport_error_inside_the_build_part_keeps_the_ci_result(engine_answers):
    engine_answers["sync"]["app"] = dagger.TransportError("stream closed")
    result = anyio.run(make_pipeline().ci)
    doc = _ci_result_json(result.dist)
    assert doc["outcome"]["build"] == "failed: TransportError: stream closed"
    assert doc["outcome"]["test"] == "passed" and result.exit_code == 1


def test_all_green_ci_writes_a_passing_result(engine_answers, tmp_path):
    result = anyio.run(make_pipeline().ci)
    doc = _ci_result_json(result.dist)
    assert result.exit_code == doc["exit_code"] == 0 and doc["failures"] == {}
    path = tmp_path / "ci-result.json"
    path.write_text(json.dumps(doc))
    from pipeline.cli.app import main

    r = CliRunner().invoke(main, ["verdict", str(path)])
    assert r.exit_code == 0 and r.output.splitlines() == [f"{k}: passed" for k in ("test", "check", "build", "integration")]


# --- build starts everything at once ----------------------------------------------------------------
def test_build_starts_the_stages_while_go_test_runs(monkeypatch):
    from pipeline.dagger_lane.main import FlamencoPipeline
    from pipeline.dagger_lane.results import TestResult

    stages_started = anyio.Event()

    async def slow_test(self):
        with anyio.fail_after(5):  # sequential code would wait here forever
            await stages_started.wait()
        return TestResult(reports=dagger.dag.directory(), exit_code=0)

    async def evaluate(self, targets):
        stages_started.set()
        return {n: {"started": 0.0, "finished": 1.0, "ok": True} for n in targets}

    async def facts(self, image_sizes=True):
        return {}

    monkeypatch.setattr(FlamencoPipeline, "test", slow_test)
    monkeypatch.setattr(FlamencoPipeline, "_evaluate", evaluate)
    async def no_counts(reports):
        return None

    monkeypatch.setattr(FlamencoPipeline, "_facts", facts)
    monkeypatch.setattr(FlamencoPipeline, "_test_counts", staticmethod(no_counts))
    answer_platforms(monkeypatch)
    dist = anyio.run(make_pipeline().build)
    assert any(c.args["path"] == "build-report.json" for c in calls(dist, "withNewFile"))


# --- the source: one commit, no pipeline outputs -----------------------------------------------------
def test_a_git_ref_is_resolved_once_and_that_commit_is_built(monkeypatch):
    sha = "0123456789abcdef0123456789abcdef01234567"
    asked = []

    async def commit(self):
        asked.append([c.name for c in chain(self)])
        return sha

    monkeypatch.setattr(dagger.GitRef, "commit", commit)
    p = make_pipeline(source=None, git_ref="main", git_hash=None)
    assert asked == [["git", "ref"]], "one ref resolution"
    src = [(c.name, dict(c.args)) for c in chain(p.source)]
    assert [n for n, _ in src] == ["git", "commit", "tree"] and src[1][1] == {"id": sha}
    from pipeline.core.source_facts import FALLBACK_HASH_LENGTH

    assert p.git_hash == sha[:FALLBACK_HASH_LENGTH] and p.source_origin.endswith(f"@{sha}")
    view = p._report({}, {})["settings"]
    assert view["source"].endswith(f"@{sha}") and view["git_ref"] == "main"


def test_report_settings_do_not_show_upstream_git_when_a_directory_was_built(pipeline):
    view = pipeline._report({}, {})["settings"]
    assert "git_url" not in view and "git_ref" not in view and view["source"] == "directory"
    assert "not measured" not in json.dumps(pipeline._report({}, {})["notes"])


# --- image tarballs get the name publish would push ---------------------------------------------------
def test_tarballs_are_named_like_publish(pipeline):
    from pipeline.core.settings import load_settings

    for kind in spec.RUNTIME_STAGES:
        tar = pipeline._image_tarball(kind)
        (run,) = [c for c in calls(tar, "withExec")][-1:]
        expected = load_settings(version="3.9-fixture1").image_name(kind, pipeline.version)
        assert run.args["args"][-1] == expected == f"flamenco-{kind}:3.9-fixture1"
        (mounted,) = calls(tar, "withMountedFile")
        assert calls(mounted.args["source"], "asTarball"), "the renamed archive is the engine's own tarball"


# --- workers wait for a healthy manager, for real ------------------------------------------------------
def test_worker_wait_loop_waits_for_200_then_proceeds(tmp_path):
    from pipeline.dagger_lane.farm import wait_for_manager

    server = tmp_path / "server.py"
    server.write_text(
        "import http.server, sys\n"
        "hits = {'n': 0}\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        hits['n'] += 1\n"
        "        self.send_response(200 if hits['n'] >= 3 and self.path == '/api/v3/version' else 503)\n"
        "        self.end_headers()\n"
        "    def log_message(self, *a):\n"
        "        print(self.path, flush=True)\n"
        "s = http.server.HTTPServer(('127.0.0.1', 0), H)\n"
        "print(s.server_address[1], flush=True)\n"
        "s.serve_forever()\n")
    proc = subprocess.Popen([sys.executable, str(server)], stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        r = subprocess.run(["bash", "-c", wait_for_manager("127.0.0.1", port, 30) + "\necho started"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and r.stdout.strip() == "started", r.stderr
    finally:
        proc.terminate()
        proc.wait(10)
    seen = proc.stdout.read().split()
    assert seen.count("/api/v3/version") >= 3, "it asked until the manager said 200"


def test_worker_wait_loop_gives_up_with_one_line(tmp_path):
    from pipeline.dagger_lane.farm import wait_for_manager

    r = subprocess.run(["bash", "-c", wait_for_manager("127.0.0.1", 9, 2) + "\necho started"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "started" not in r.stdout
    assert r.stderr.strip() == "flamenco-pipeline: the manager at 127.0.0.1:9 was not healthy after 2s"


# --- the Docker lane applies the same platform rule --------------------------------------------------
def test_docker_lane_refuses_a_local_image_of_another_platform():
    from pipeline.docker_lane.build import target_platform
    from pipeline.core.settings import load_settings

    s = load_settings(platforms=["linux/arm64"], runtime_image="standin/debian:12")
    local = {"standin/debian:12": "linux/amd64"}  # what `docker image inspect` answers
    with pytest.raises(SettingsError, match=r"runtime_image='standin/debian:12': has no linux/arm64 variant"):
        target_platform(s, "1.26.2", inspect=local.get)
    assert target_platform(load_settings(), "1.26.2", inspect=local.get) == "linux/amd64"
    with pytest.raises(SettingsError, match="one platform per run"):
        target_platform(load_settings(platforms=TWO), "1.26.2", inspect=local.get)


def test_build_reports_a_test_stage_that_could_not_run_as_one_message(monkeypatch):
    from pipeline.core.errors import BuildFailed
    from pipeline.dagger_lane.main import FlamencoPipeline

    async def broken_test(self):
        raise exec_error(_check_script(), "go: cannot find main module\n")

    async def evaluate(self, targets):
        return {n: {"started": 0.0, "finished": 1.0, "ok": True} for n in targets}

    monkeypatch.setattr(FlamencoPipeline, "test", broken_test)
    monkeypatch.setattr(FlamencoPipeline, "_evaluate", evaluate)
    answer_platforms(monkeypatch)
    with pytest.raises(BuildFailed) as e:
        anyio.run(make_pipeline().build)
    assert str(e.value).startswith("build failed in stage(s) test: step 'vet, gofmt, staticcheck' failed (exit 1)")
    assert "cannot find main module" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize(("stdout", "printed"), [("", []), ("staticcheck: all clean\n", ["staticcheck: all clean"])])
def test_check_prints_no_empty_line(tmp_path, monkeypatch, stdout, printed):
    from pipeline.cli.app import main
    from tests.fake_engine import FakeEngine
    from tests.test_cli_reaches_create import FACTS

    def answer(field, chain):
        assert field == "stdout", field
        return stdout

    FakeEngine(answer).install(monkeypatch)
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["check", *FACTS])
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == printed, "stdout: the checks' own output only"
