"""The plain-Docker lane for real: Dockerfile.dev built by BuildKit from the
flamenco-mini fixture, then the images run and the exports read.

The default build (manager, worker, reports, binaries) happens once per
session (``default_build`` in conftest.py); the other tests reuse it or build
from their own modified copy of the fixture.  Run with ``-s`` for timings.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
import uuid

import pytest
from junitparser import Failure, JUnitXml, Skipped, TestSuite
from junitparser import Error as JUnitError

from pipeline.core import spec
from pipeline.core.settings import SettingsError

from .conftest import STAMP
from .engine import (
    image_exists,
    image_label,
    parse_plain_progress,
    run_docker,
    stage_runs,
    step_output,
    timed,
)
from .engine import lane_log  # noqa: E402

pytestmark = pytest.mark.docker

# What `go test -short ./...` runs in tests/fixtures/flamenco-mini (see its
# README): 33 tests, TestServeOnRealSocket skipped under -short. One of them,
# internal/sharedstorage TestCheckSharedStoragePath, fails under root as Flamenco's
# does, so 0 failures needs the lanes to run `go test` as a normal user.
FIXTURE_TESTS = 33
FIXTURE_SKIPPED = 2  # -short's real-socket test, and appinfo's Makefile/magefiles check: go-source copies only Go inputs

# The first test to touch `default_build` pays for the cold build.
BUILD = pytest.mark.timeout(1800)


def docker_out(*args: str, **kw) -> str:
    return run_docker(list(args), **kw).stdout.strip()


def junit_counts(path) -> dict:
    """Counts from the test cases themselves (not the suites' attributes)."""
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0, "failed": []}
    xml = JUnitXml.fromfile(str(path))
    suites = [xml] if isinstance(xml, TestSuite) else list(xml)
    for suite in suites:
        for case in suite:
            counts["tests"] += 1
            kinds = {type(r) for r in case.result}
            if Failure in kinds:
                counts["failures"] += 1
                counts["failed"].append(case.name)
            if JUnitError in kinds:
                counts["errors"] += 1
            if Skipped in kinds:
                counts["skipped"] += 1
    return counts


# --------------------------------------------------------------------------- #
# 1. images and exports


@BUILD
def test_images_and_exports_build(default_build):
    assert image_exists(default_build.manager)
    assert image_exists(default_build.worker)
    assert (default_build.reports / "junit.xml").is_file()
    for name in ("flamenco-manager", "flamenco-worker"):
        binary = default_build.binaries / name
        assert binary.is_file(), sorted(p.name for p in default_build.binaries.iterdir())
        assert binary.stat().st_mode & 0o111, f"{binary} is not executable"


# --------------------------------------------------------------------------- #
# 2. stamp


@BUILD
@pytest.mark.parametrize("kind", ["manager", "worker"])
def test_version_stamp(default_build, kind):
    image = getattr(default_build, kind)
    out = docker_out("run", "--rm", image, "-version")
    assert STAMP.version in out, out
    assert STAMP.git_hash in out, out


# --------------------------------------------------------------------------- #
# 3. runtime images


@BUILD
@pytest.mark.parametrize("kind", ["manager", "worker"])
def test_runtime_image_runs_as_non_root(default_build, kind):
    uid = docker_out("run", "--rm", "--entrypoint", "id", getattr(default_build, kind), "-u")
    assert uid.isdigit() and int(uid) != 0, uid


@BUILD
@pytest.mark.parametrize("kind", ["manager", "worker"])
def test_runtime_image_labels(default_build, kind):
    image = getattr(default_build, kind)
    assert image_label(image, "org.opencontainers.image.version") == STAMP.version
    assert image_label(image, "org.opencontainers.image.revision") == STAMP.git_hash
    assert (image_label(image, "org.opencontainers.image.source") or "").startswith("https://")


@BUILD
def test_worker_has_ffmpeg(default_build):
    out = docker_out("run", "--rm", "--entrypoint", "ffmpeg", default_build.worker, "-hide_banner", "-version")
    assert out.startswith("ffmpeg version"), out


@BUILD
@pytest.mark.parametrize("kind", ["manager", "worker"])
def test_runtime_image_has_no_build_tools(default_build, kind):
    proc = run_docker(
        ["run", "--rm", "--entrypoint", "sh", getattr(default_build, kind), "-c", "command -v go git gcc; true"]
    )
    assert proc.stdout.strip() == "", f"build tools in the runtime image: {proc.stdout}"


@BUILD
def test_manager_exposes_8080(default_build):
    ports = json.loads(docker_out("image", "inspect", "--format", "{{json .Config.ExposedPorts}}", default_build.manager))
    assert "8080/tcp" in (ports or {}), ports


# --------------------------------------------------------------------------- #
# 4. the cache mounts are where the tools look


@BUILD
def test_go_cache_paths(lane, default_build):
    tag = "flamenco-lane/gotestsum:lane-test"
    lane.build("gotestsum", default_build.context, tag=tag).check()
    out = docker_out("run", "--rm", "--entrypoint", "go", tag, "env", "GOMODCACHE", "GOCACHE").splitlines()
    assert out == [spec.GOMODCACHE.path, spec.GOCACHE.path]
    # the Go stages run as the build user, which owns its home (GOCACHE, GOPATH) and /out
    who = docker_out("run", "--rm", "--entrypoint", "sh", tag, "-c", "id -u; stat -c %u $HOME /out").split()
    assert who == [str(spec.BUILD_UID)] * 3, who


@BUILD
def test_go_test_runs_as_the_build_user(lane, default_build):
    """Issue 10 §2: Flamenco's TestCheckSharedStoragePath refuses root; go test must not run as root."""
    log = default_build.results["reports"].output
    # what the step printed (a BuildKit output line "#N 1.23 ..."), not the script text in its RUN line
    printed = re.findall(r"^#\d+ [\d.]+ flamenco-pipeline: go test runs as (.*)$", log, re.M)
    if printed:  # the step ran in this build (not a cache hit)
        assert printed == [f"{spec.BUILD_USER} (uid {spec.BUILD_UID})"], printed
    tag = "flamenco-lane/test:lane-test"
    lane.build("test", default_build.context, tag=tag).check()
    try:
        assert docker_out("run", "--rm", "--entrypoint", "id", tag, "-u").strip() == str(spec.BUILD_UID)
    finally:
        run_docker(["rmi", tag], check=False)


@BUILD
def test_embedded_file_change_changes_the_binary(lane, fixture_copy, tmp_path):
    """The Go stages copy only Go sources and embeds: a file the manager embeds through
    //go:embed (a migration, internal/persistence), changed, must change the binary; a docs
    change must not re-run go build at all."""
    src = fixture_copy("embed-change")
    first, second, third = tmp_path / "1", tmp_path / "2", tmp_path / "3"
    lane.build("binaries", src, output=first, label="binaries (before embed change)").check()
    sql = src / "internal/persistence/migrations/0002_worker_task_types.sql"
    marker = f"-- embed change {uuid.uuid4()}"
    sql.write_text(sql.read_text() + f"\n{marker}\n")
    lane.build("binaries", src, output=second, label="binaries (embed change)").check()
    before, after = (first / "flamenco-manager").read_bytes(), (second / "flamenco-manager").read_bytes()
    assert marker.encode() not in before and marker.encode() in after
    assert before != after
    readme = src / "README.md"
    readme.write_text(readme.read_text() + f"\n<!-- docs change {uuid.uuid4()} -->\n")
    result = lane.build("binaries", src, output=third, label="binaries (docs change)").check()
    ran = [t for t, info in parse_plain_progress(result.output).items()
           if not info["cached"] and re.match(r"\[(go-source|app) \d+/\d+\]", t)]
    assert ran == [], f"a docs change re-ran {ran}"
    assert (third / "flamenco-manager").read_bytes() == after


@BUILD
def test_yarn_cache_path(lane, default_build):
    tag = "flamenco-lane/web-deps:lane-test"
    lane.build("web-deps", default_build.context, tag=tag).check()
    out = docker_out("run", "--rm", "--entrypoint", "yarn", tag, "cache", "dir")
    assert out.splitlines()[-1].startswith(spec.YARN_CACHE.path), out


# --------------------------------------------------------------------------- #
# 5. the manager serves and becomes healthy


@BUILD
def test_manager_serves_version_and_is_healthy(default_build):
    cid = docker_out("run", "-d", "-p", "127.0.0.1::8080", default_build.manager)
    try:
        host_port = docker_out("port", cid, "8080/tcp").splitlines()[0].strip()
        url = f"http://{host_port}/api/v3/version"

        body, last_error = None, None
        with timed("manager answers /api/v3/version"):
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    with urllib.request.urlopen(url, timeout=3) as resp:
                        body = json.loads(resp.read())
                        break
                except (urllib.error.URLError, ConnectionError, OSError) as exc:
                    last_error = exc
                    time.sleep(0.5)
        assert body is not None, f"{url} did not answer in 30s: {last_error}\n" + docker_out("logs", cid)
        # Flamenco's GetVersion: the extended version (a beta build: with the hash), the plain shortversion
        assert body == {"git": STAMP.git_hash, "name": "Flamenco", "shortversion": STAMP.version,
                        "version": f"{STAMP.version} ({STAMP.git_hash})"}, body

        status = None
        with timed("manager healthy"):
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                status = docker_out("inspect", "--format", "{{.State.Health.Status}}", cid)
                if status in ("healthy", "unhealthy"):
                    break
                time.sleep(1)
        assert status == "healthy", (
            f"health status {status!r}; last checks:\n"
            + docker_out("inspect", "--format", "{{json .State.Health}}", cid)
        )
    finally:
        run_docker(["rm", "-f", cid], check=False)


# --------------------------------------------------------------------------- #
# 6. test reports


@BUILD
def test_reports_export(default_build):
    reports = default_build.reports
    counts = junit_counts(reports / "junit.xml")
    lane_log(f"junit: {counts}")
    assert counts["tests"] == FIXTURE_TESTS, counts
    assert counts["failures"] == 0 and counts["errors"] == 0, counts
    assert counts["skipped"] == FIXTURE_SKIPPED, counts
    assert (reports / "exit-code").read_text().strip() == "0"
    assert (reports / "coverage.txt").is_file()
    assert "total:" in (reports / "coverage.txt").read_text()


# --------------------------------------------------------------------------- #
# 7. a failing test still yields its report


@BUILD
def test_failing_test_still_reports(lane, fixture_copy, default_build, tmp_path):
    src = fixture_copy("failing")
    (src / "internal/appinfo/testdata/fail").write_text("make TestFixtureCanFail fail\n")
    out = tmp_path / "reports"
    lane.build("reports", src, output=out, label="reports (failing test)").check()

    assert (out / "exit-code").read_text().strip() != "0"
    counts = junit_counts(out / "junit.xml")
    lane_log(f"junit (failing): {counts}")
    assert counts["failures"] == 1, counts
    assert counts["failed"] == ["TestFixtureCanFail"], counts


# --------------------------------------------------------------------------- #
# 8. a source-only change re-runs only the compile


@BUILD
def test_source_change_rebuilds_only_app(lane, fixture_copy, default_build):
    src = fixture_copy("source-change")
    main_go = src / "cmd/flamenco-manager/main.go"
    # unique per run: a change seen before would be a cache hit
    main_go.write_text(main_go.read_text() + f"\n// changed by the container lane test {uuid.uuid4()}\n")
    tag = "flamenco-manager:lane-test-changed"
    try:
        result = lane.build("manager", src, tag=tag, label="manager (source change)").check()
        steps = parse_plain_progress(result.output)
        assert not stage_runs(steps, "gotestsum") and not stage_runs(steps, "staticcheck"), "tools off the images' path"
        for stage in ("go-mod", "web-deps"):
            runs = stage_runs(steps, stage)
            assert runs, f"no RUN step of {stage} in the progress output (log {result.log_path})"
            assert all(r["cached"] for r in runs.values()), f"{stage} re-ran: {runs}"
        app = stage_runs(steps, "app")
        assert app, f"no RUN step of app in the progress output (log {result.log_path})"
        for title, info in app.items():
            assert not info["cached"] and info["seconds"] is not None, (title, info)
            lane_log(f"app go build after a source change: {info['seconds']:.1f}s")
    finally:
        run_docker(["rmi", tag], check=False)


@BUILD
def test_go_build_compiles_the_managers_packages_and_app_only_what_embeds_the_web_app(lane, fixture_copy,
                                                                                   default_build):
    """go-build compiles every package the manager imports (not only the worker's), so app's
    `go build -v` compiles at most `web` and the manager's main package. (On real Flamenco the
    manager's own packages were once compiled in app, beside the tools: `go build -o DIR`
    skips the non-main packages it is given.)"""
    from pipeline.docker_lane import buildkit_log

    src = fixture_copy("manager-packages")
    module = "example.com/flamenco-mini"
    pkg = src / "internal/persistence/persistence.go"  # imported by the manager, not by the worker
    probe = "Probe" + uuid.uuid4().hex[:12]  # a new exported name: the package's export data changes
    pkg.write_text(pkg.read_text() + f"\n// {probe} changes this package's export data.\nfunc {probe}() int {{ return 1 }}\n")
    result = lane.build("app", src, label="app (a manager-only package changed)").check()
    log = buildkit_log.parse(result.output)

    def compiled(stage: str) -> set[str]:
        (run,) = [v for v in log.stage_steps(stage) if " RUN " in v.title]
        assert not run.cached, f"{stage} was a cache hit (log {result.log_path})"
        return {t.strip() for _, t in run.output if t.strip().startswith(module + "/")}

    assert f"{module}/internal/persistence" in compiled("go-build"), compiled("go-build")
    in_app = compiled("app")
    assert f"{module}/cmd/flamenco-manager" in in_app and in_app <= {f"{module}/web", f"{module}/cmd/flamenco-manager"}, in_app
    lane_log(f"app compiled only {sorted(p.removeprefix(module + '/') for p in in_app)} after a manager-only change")


# --------------------------------------------------------------------------- #
# 9. Go module safety


def test_settings_refuse_goproxy_direct(lane):
    with pytest.raises(SettingsError, match="goproxy"):
        lane.settings(goproxy="direct")
    # the explicit opt-in is accepted
    assert lane.settings(goproxy="direct", allow_unsafe_go_modules=True).goproxy == "direct"


@pytest.mark.timeout(600)
@pytest.mark.parametrize(
    "unsafe,message",
    [
        ({"GOPROXY": "direct"}, "flamenco-pipeline: GOPROXY='direct' bypasses the module proxy"),
        ({"GOPROXY": "https://goproxy.corp.example|off"}, "bypasses the module proxy"),
        ({"GOSUMDB": "off"}, "flamenco-pipeline: GOSUMDB=off disables checksum verification"),
        ({"GOPRIVATE": "*"}, "a bare '*' in GOPRIVATE/GONOSUMDB/GONOPROXY"),
    ],
)
def test_dockerfile_refuses_unsafe_go_settings(lane, fixture_copy, unsafe, message):
    """Plain `docker build` users skip the settings validation: the stage refuses."""
    args = lane.args() | unsafe
    assert args["ALLOW_UNSAFE_GO_MODULES"] == "0"
    result = lane.build("go-mod", fixture_copy("guard"), args=args, timeout=120, label=f"go-mod {unsafe}")
    assert not result.ok, result.tail()
    assert result.seconds < 60, f"took {result.seconds:.1f}s"
    # what the step printed, not the script text in the step's title
    emitted = step_output(result.output)
    assert message in emitted, result.tail()
    assert "exit code: 2" in result.output, result.tail()


UNREACHABLE_MODULE = "lane-unreachable.invalid/mod"  # .invalid never resolves (RFC 2606)
STEP_TIMEOUT = 120


@BUILD
def test_direct_mode_fails_fast_on_unreachable_vcs(lane, fixture_copy, default_build):
    """Opted in to GOPROXY=direct, a module whose VCS host is unreachable fails, within STEP_TIMEOUT.

    Depends on default_build so that the fixture's own modules are already in
    the shared module cache: the only download left is the unreachable one.
    """
    settings = lane.settings(goproxy="direct", allow_unsafe_go_modules=True, step_timeout=STEP_TIMEOUT)
    args = lane.args(settings)
    assert args["GOPROXY"] == "direct" and args["ALLOW_UNSAFE_GO_MODULES"] == "1"
    assert args["STEP_TIMEOUT"] == str(STEP_TIMEOUT)

    src = fixture_copy("direct")
    go_mod = src / "go.mod"
    go_mod.write_text(go_mod.read_text() + f"\nrequire {UNREACHABLE_MODULE} v1.0.0\n")

    result = lane.build(
        "go-deps", src, args=args, settings=settings, timeout=STEP_TIMEOUT + 180, label="go-deps direct unreachable"
    )
    lane_log(f"GOPROXY=direct with an unreachable VCS host failed after {result.seconds:.1f}s")
    assert not result.ok, result.tail()
    assert result.seconds < STEP_TIMEOUT + 60, f"took {result.seconds:.1f}s"
    emitted = step_output(result.output)  # what the step printed, not its script
    assert "bypasses the module proxy" not in emitted, "the opt-in was not honoured"
    assert UNREACHABLE_MODULE in emitted, result.tail()
    # go-build's fetch of the binaries' modules or go-deps' of every module, whichever meets it
    assert (
        re.search(r"flamenco-pipeline: fetching Go modules \((go list -deps of the binaries|go mod download)\) failed", emitted)
        or re.search(rf"flamenco-pipeline: step '(go build binaries|go mod download)' took longer than {STEP_TIMEOUT}s", emitted)
    ), result.tail()


# --------------------------------------------------------------------------- #
# the add-on zip and the label guard (Flamenco fidelity, issue 10 §4)

READ_ZIP = ("import json, zipfile; z = zipfile.ZipFile('" + spec.ADDON_ZIP + "'); "
            "print(json.dumps({'names': z.namelist(), 'comment': z.comment.decode()}))")


@pytest.mark.timeout(600)
@pytest.mark.parametrize("version,comment_version", [("", "3.9-fixture1"), ("3.9-other1", "3.9-other1")])
def test_addon_stage_packs_like_flamencos_packer(lane, fixture_copy, version, comment_version):
    """The real addon stage: docs/ and dot-directories left out, the comment names the version
    (FLAMENCO_VERSION, else the Makefile's, as the go build step defaults it)."""
    src = fixture_copy("addon")
    tag = f"flamenco-pipeline-lane-addon:{uuid.uuid4().hex[:8]}"
    lane.build("addon", src, args=lane.args(FLAMENCO_VERSION=version), tag=tag, timeout=300,
               label=f"addon {version or 'makefile'}").check()
    try:
        got = json.loads(docker_out("run", "--rm", "--entrypoint", "python3", tag, "-c", READ_ZIP))
    finally:
        run_docker(["rmi", tag], check=False)
    assert got == {"names": ["flamenco/__init__.py", "flamenco/manager/__init__.py", "flamenco/manager_info.py"],
                   "comment": f"Flamenco add-on for Blender, version {comment_version}"}


@pytest.mark.timeout(600)
@pytest.mark.parametrize("arg,message", [
    # the go build step defaults the version to the Makefile's, so only the label guard stops this
    ("FLAMENCO_VERSION", "flamenco-pipeline: FLAMENCO_VERSION is empty, so the image's "
                         "org.opencontainers.image.version label would be empty; pass --build-arg FLAMENCO_VERSION="),
    # the go build step refuses an empty hash too; whichever step fails first names it
    ("FLAMENCO_GIT_HASH", "flamenco-pipeline: FLAMENCO_GIT_HASH is empty"),
])
def test_runtime_image_refuses_an_empty_label_value(lane, fixture_copy, arg, message):
    """By-hand `docker build --target manager` without the build arg: one line, no image."""
    tag = f"flamenco-manager:lane-no-{arg.lower()}"
    result = lane.build("manager", fixture_copy("no-label"), args=lane.args(**{arg: ""}), tag=tag, timeout=600,
                        label=f"manager without {arg}")
    assert not result.ok, result.tail()
    assert message in step_output(result.output), result.tail()
    assert "exit code: 2" in result.output, result.tail()
    assert not image_exists(tag)
