"""`flamenco-pipeline`: the same pipeline from a terminal or a CI job.

Dagger-backed commands (build, test, check, ci, publish) open a session with
`dagger.connection()` (the SDK fetches the matching Dagger CLI itself) and call
the module's own functions. `plan` and `render` need no engine; `docker build`
drives the plain-Docker lane. Heavy imports happen inside commands so that
`--help` stays fast.

Exit codes: 0 success, 1 the build or its tests failed, 2 bad settings or usage,
3 no engine could be reached.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import click

from pipeline.cli.common import TextPath, fail
from pipeline.cli.options import (
    ALL_SETTINGS, COMMAND_SETTINGS, Bounded, SettingsCommand, one_line_usage_errors, setting_options,
)
from pipeline.cli.session import local_facts, with_pipeline
from pipeline.core.errors import EXIT_ENGINE, EXIT_FAILED

PROGRESS_MODES = ("auto", "tty", "plain", "full")  # pipeline.docker_lane.progress.MODES (a test checks)


def command(group, name: str | None = None, *, example: str, **kw):
    """``@group.command`` with settings help for this command and its example."""

    def deco(fn):
        full = f"{group.name} {name}" if group is not main else (name or fn.__name__.replace("_", "-"))
        cmd = group.command(name, cls=SettingsCommand, epilog=example, **kw)(fn)
        cmd.shown_settings = COMMAND_SETTINGS.get(full.removeprefix("main "), ALL_SETTINGS)
        for p in cmd.params:
            if p.name in ALL_SETTINGS and p.name not in cmd.shown_settings:
                p.hidden = True
        return cmd

    return deco


def load(overrides: dict):
    """Validated settings, or a one-line error and exit 2 (before any engine starts)."""
    from pipeline.core.settings import SettingsError, load_settings

    try:
        return load_settings(**overrides)
    except SettingsError as e:
        fail(str(e))


def writable_dir_problem(path: Path) -> str | None:
    """Why `path` cannot be (created and) written, else None.

    Tried, not asked: `os.access` says yes to root on /sys or a read-only mount.
    The nearest existing ancestor gets a temporary file, removed at once.
    """
    import tempfile

    if path.exists() and not path.is_dir():
        return "exists and is not a directory"
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        return f"'{probe}' is not a directory"
    try:
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as e:
        return f"cannot write in '{probe}' ({e.strerror})"
    return None


def check_export_dir(path: Path, option: str = "--export") -> Path:
    from pipeline.core.validate import text

    try:
        text(str(path))
    except ValueError as e:
        fail(f"invalid option {option}={str(path)!r}: {e}")
    path = path.resolve()
    if problem := writable_dir_problem(path):
        fail(f"invalid option {option}={str(path)!r}: not a writable directory ({problem}); pick a directory you can write to")
    return path


@contextlib.contextmanager
def recorded(function: str, settings, export: Path | None, **function_args):
    """Write repro.json (into `export`, else the current directory) before the run, its exit code after.

    Written first so that a crash or a failing engine still leaves it; secrets appear
    only as references (`env://VAR`, `file://PATH`). See pipeline/ci/repro_record.py.
    """
    from pipeline.ci import repro_record

    path = (export or Path.cwd()) / repro_record.FILE_NAME
    try:
        repro_record.write(repro_record.record_for_cli(function, settings, export=export, function_args=function_args), path)
        click.echo(f"repro: {path} (re-run locally: flamenco-pipeline repro {path})", err=True)
    except OSError as e:
        click.echo(f"flamenco-pipeline: warning: could not write {path}: {e}", err=True)
        yield
        return
    code: int | str | None = 0
    try:
        yield
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) or e.code is None else 1
        raise
    except BaseException as e:
        code = f"error: {type(e).__name__}"
        raise
    finally:
        repro_record.set_outcome(path, code)


class LazyGroup(click.Group):
    """Commands that live in other modules, imported only when used (fast --help)."""

    def make_context(self, info_name, args, parent=None, **extra):
        with one_line_usage_errors():
            return super().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx):
        with one_line_usage_errors():
            return super().invoke(ctx)

    LAZY = {
        "repro": ("pipeline.cli.repro", "repro", "Re-run a recorded pipeline call (repro.json) locally."),
        "summary": ("pipeline.cli.repro", "summary", "Markdown summary of a JUnit report (CI job summaries)."),
        "report": ("pipeline.cli.report", "report", "Render build-report.md (+ timeline SVG) from build-report.json."),
        "verdict": ("pipeline.cli.verdict", "verdict", "Exit 1 if dist/ci-result.json records a failed ci part (CI jobs)."),
    }
    EXAMPLES = {
        "repro": "flamenco-pipeline repro dist/repro.json --print",
        "summary": "flamenco-pipeline summary reports/junit.xml --slowest 5",
        "report": "flamenco-pipeline report dist/build-report.json --quiet",
    }

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(self.LAZY))

    def get_command(self, ctx, name):
        if name in self.LAZY:
            import importlib

            module, attr, _ = self.LAZY[name]
            try:
                cmd = getattr(importlib.import_module(module), attr)
            except (ImportError, AttributeError):
                return None
            if not cmd.epilog and name in self.EXAMPLES:
                cmd.epilog = f"\b\nExample:\n  {self.EXAMPLES[name]}"
            return cmd
        return super().get_command(ctx, name)

    def format_commands(self, ctx, formatter):
        rows = [(n, self.LAZY[n][2] if n in self.LAZY else click.Group.get_command(self, ctx, n).get_short_help_str(90))
                for n in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="flamenco-pipeline", help="Show this program's version and exit.")
def main() -> None:
    """Build, test and package Flamenco (manager + worker images) as cached stages.

    \b
    Stages: base -> deps -> build-tools -> app, then test/check and the runtime images.
    Engine-free:   plan, render dockerfile, summary, report, repro --print
    Dagger engine: build, test, check, ci, publish, dev, integration-test, repro
                   (the SDK fetches the Dagger CLI)
    Plain Docker:  docker build
    Settings come from flags, FLAMENCO_PIPELINE_* env vars and .env (see README);
    each command's --help lists those that change its result.

    \b
    Example:  flamenco-pipeline docker build --source ~/flamenco --export dist
    """


# --- engine-free -----------------------------------------------------------------
@command(main, example="flamenco-pipeline plan --source ~/flamenco --goproxy https://goproxy.corp.example")
@setting_options
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
def plan(settings_overrides: dict, as_json: bool) -> None:
    """Print the stage plan (no engine needed)."""
    from pipeline.core.plan import render_text, resolved_plan
    from pipeline.core.source_facts import parse_go_mod

    settings = load(settings_overrides)
    gover = settings.go_version
    if gover is None and settings.source is not None:
        try:
            gover = parse_go_mod((settings.source / "go.mod").read_text()).toolchain_version
        except (OSError, ValueError) as e:
            fail(f"invalid setting source={str(settings.source)!r}: its go.mod: {e}; fix go.mod or pass --go-version")
    p = resolved_plan(settings, gover or "<from go.mod>")
    click.echo(json.dumps(p.as_dict(), indent=2) if as_json else render_text(p))


@main.group()
def render() -> None:
    """Render files that are generated from the stage spec."""


@render.command("dockerfile", cls=SettingsCommand, epilog="flamenco-pipeline render dockerfile --check")
@click.option("--output-dir", type=TextPath(file_okay=False, path_type=Path), default=None,
              help="Where Dockerfile.dev is (default: this repository's checkout; for an installed package, "
                   "the current directory).")
@click.option("--check", is_flag=True, help="Exit 1 if the files on disk differ from the render.")
def render_dockerfile(output_dir: Path | None, check: bool) -> None:
    """Write Dockerfile.dev and Dockerfile.dev.dockerignore from the spec.

    `docker build` needs neither file: it renders its own copy per run. These are for
    building by hand (`docker build -f Dockerfile.dev`) and for compose.dev.yml.
    """
    from pipeline.docker_lane.build import REPO_ROOT
    from pipeline.docker_lane.dockerfile import FILES

    if output_dir is not None and not check:
        if not output_dir.is_dir():
            fail(f"invalid option --output-dir={str(output_dir)!r}: no such directory; create it first")
        check_export_dir(output_dir, "--output-dir")
    out = output_dir or REPO_ROOT or Path.cwd()
    stale = []
    for name, fn in FILES.items():
        path = out / name
        text = fn()
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
            click.echo(f"wrote {path}")
    if stale:
        fail(f"{', '.join(stale)} differ from the spec; run `flamenco-pipeline render dockerfile`", EXIT_FAILED)


# --- Dagger-backed ----------------------------------------------------------------


def tests_failed(reports: Path) -> str | None:
    """The go test exit code in an exported reports/ dir when it is not 0 (both lanes)."""
    marker = reports / "exit-code"
    if not marker.is_file():
        return None
    code = marker.read_text().strip()
    return None if code == "0" else (code or "unknown")


@command(main, example="flamenco-pipeline build --source ~/flamenco --export dist")
@setting_options
@click.option("--export", "export", type=TextPath(path_type=Path), default=Path("dist"),
              help="Where images/, bin/, reports/ and the report go; default: dist.")
def build(settings_overrides: dict, export: Path) -> None:
    """Build both images and binaries, run the tests, export everything."""
    settings = load(settings_overrides)
    export = check_export_dir(export)

    async def action(pipe):
        return await (await pipe.build()).export(str(export))

    with recorded("build", settings, export):
        with_pipeline(settings, action)
        click.echo(f"exported to {export}")
        if (code := tests_failed(export / "reports")) is not None:
            fail(f"go test failed (exit {code}); reports in {export / 'reports'}", EXIT_FAILED)


@command(main, example="flamenco-pipeline test --source ~/flamenco --export reports")
@setting_options
@click.option("--export", "export", type=TextPath(path_type=Path), default=Path("reports"),
              help="Where junit.xml, go-test.json, coverage go; default: reports.")
def test(settings_overrides: dict, export: Path) -> None:
    """Run go test; export the reports; exit 1 if a test failed."""
    settings = load(settings_overrides)
    export = check_export_dir(export)

    async def action(pipe):
        result = await pipe.test()
        await result.reports.export(str(export))
        return result.exit_code

    with recorded("test", settings, export):
        code = with_pipeline(settings, action)
        click.echo(f"reports in {export}; go test exit code {code}")
        sys.exit(EXIT_FAILED if code else 0)


@command(main, example="flamenco-pipeline check --source ~/flamenco")
@setting_options
def check(settings_overrides: dict) -> None:
    """go vet, gofmt and staticcheck."""
    settings = load(settings_overrides)

    async def action(pipe):
        return await pipe.check().stdout()

    with recorded("check", settings, None):
        out = with_pipeline(settings, action).rstrip("\n")
        if out:  # the checks print nothing when everything is clean
            click.echo(out)


@command(main, example="flamenco-pipeline ci --export dist")
@setting_options
@click.option("--export", "export", type=TextPath(path_type=Path), default=Path("dist"),
              help="Where images/, bin/, all reports/ and the report go; default: dist.")
def ci(settings_overrides: dict, export: Path) -> None:
    """test + check + build concurrently; export all artifacts; exit 1 on any failure."""
    settings = load(settings_overrides)
    export = check_export_dir(export)

    async def action(pipe):
        result = await pipe.ci()
        await result.dist.export(str(export))
        return result.exit_code, result.summary

    with recorded("ci", settings, export):
        code, summary = with_pipeline(settings, action)
        click.echo(summary)
        sys.exit(EXIT_FAILED if code else 0)


@command(main, example="REGISTRY_PASSWORD=... flamenco-pipeline publish --registry registry.example/team --username me")
@setting_options
@click.option("--username", required=True, help="Registry user name.")
@click.option("--password-env", default="REGISTRY_PASSWORD",
              help="Env var holding the password; default: REGISTRY_PASSWORD.")
def publish(settings_overrides: dict, username: str, password_env: str) -> None:
    """Push both images (all platforms, one manifest each) to --registry."""
    import os

    from pipeline.core import validate

    for option, check, value in (("--username", validate.username, username),
                                 ("--password-env", validate.env_name, password_env)):
        try:
            check(value)
        except ValueError as e:
            fail(f"invalid option {option}={value!r}: {e}")
    settings = load(settings_overrides)
    if not settings.registry:
        fail("invalid setting registry=None: publish needs --registry registry.example/team")
    if not os.environ.get(password_env):
        fail(f"invalid option --password-env={password_env}: the variable is empty; export it first")

    async def action(pipe):
        from dagger import dag

        secret = dag.set_secret("registry-password", os.environ[password_env])
        return await pipe.publish(password=secret, username=username)

    with recorded("publish", settings, None, username=username, password=f"env://{password_env}"):
        click.echo(with_pipeline(settings, action))


def _max_workers() -> int:
    from pipeline.core.spec import MAX_FARM_WORKERS

    return MAX_FARM_WORKERS


WORKERS = Bounded(1, _max_workers(), "a whole number")
PORT = Bounded(1, 65535, "a TCP port number")


@command(main, example="flamenco-pipeline dev --source ~/flamenco --workers 3 --port 8080")
@setting_options
@click.option("--workers", type=WORKERS, default=1, show_default=True, help="Workers to start next to the manager (1-32).")
@click.option("--port", type=PORT, default=None, help="Host port for the manager's web interface and API [default: 8080].")
@click.option("--worker-blender", is_flag=True, default=False,
              help="Workers from the worker-blender image: Debian's Blender on PATH (a bigger image).")
def dev(settings_overrides: dict, workers: int, port: int | None, worker_blender: bool) -> None:
    """A local farm as Dagger services: the manager on localhost and N workers (Ctrl+C stops it)."""
    from pipeline.core.spec import MANAGER_PORT

    n = workers
    host_port = MANAGER_PORT if port is None else port
    settings = load(settings_overrides)

    async def action(pipe):
        import dagger

        click.echo(f"farm: manager at http://localhost:{host_port}/ with {n} worker(s); Ctrl+C stops it", err=True)
        await pipe.dev(n, worker_blender).up(ports=[dagger.PortForward(frontend=host_port, backend=MANAGER_PORT)])

    try:
        with_pipeline(settings, action)
    except KeyboardInterrupt:
        click.echo("farm: stopped", err=True)


@command(main, "integration-test", example="flamenco-pipeline integration-test --source ~/flamenco --workers 3")
@setting_options
@click.option("--workers", type=WORKERS, default=3, show_default=True, help="Workers that must register and sign on (1-32).")
@click.option("--export", "export", type=TextPath(path_type=Path), default=Path("reports"), show_default=True,
              help="Directory for integration.xml (JUnit) and integration-timing.txt.")
@click.option("--worker-blender", is_flag=True, default=False,
              help="Workers from the worker-blender image: Debian's Blender on PATH (a bigger image).")
def integration_test(settings_overrides: dict, workers: int, export: Path, worker_blender: bool) -> None:
    """Run the built manager and N workers as services, check them; exit 1 if a check failed."""
    from pipeline.core.spec import INTEGRATION_REPORTS

    n = workers
    settings = load(settings_overrides)
    export = check_export_dir(export)

    async def action(pipe):
        result = await pipe.integration_test(n, worker_blender)
        await result.reports.export(str(export))
        return result.exit_code

    code = with_pipeline(settings, action)
    timing = export / INTEGRATION_REPORTS[1]
    if timing.is_file():
        click.echo(timing.read_text().strip())
    click.echo(f"reports in {export}; integration checks {'FAILED' if code else 'passed'}")
    sys.exit(EXIT_FAILED if code else 0)


# --- plain Docker lane ----------------------------------------------------------------
@main.group()
def docker() -> None:
    """The same stages through Dockerfile.dev and a local Docker engine."""


@command(docker, "build", example="flamenco-pipeline docker build --source ~/flamenco --export dist --target manager")
@setting_options
@click.option("--target", "targets", multiple=True, default=("manager", "worker", "reports"),
              help="Targets, repeatable; default: manager, worker, reports.")
@click.option("--export", "export", type=TextPath(path_type=Path), default=Path("dist"),
              help="Where reports/, binaries/, logs/ go; default: dist.")
@click.option("--progress", type=click.Choice(PROGRESS_MODES), default="auto",
              help="tty, plain (CI) or full BuildKit output; default: auto.")
def docker_build(settings_overrides: dict, targets: tuple[str, ...], export: Path, progress: str) -> None:
    """Build Dockerfile.dev targets with BuildKit; images are tagged from the settings."""
    from pipeline.docker_lane.build import DockerBuild, build_args, engine_problem, target_platform
    from pipeline.core.settings import SettingsError
    from pipeline.core.spec import EXPORTS

    from pipeline.core.validate import docker_target

    for t in targets:
        try:
            docker_target(t)
        except ValueError as e:
            fail(f"invalid option --target={t!r}: {e}")
    settings = load(settings_overrides)
    if settings.source is None:
        fail("invalid setting source=None: the Docker lane builds a local checkout; pass --source DIR")
    export = check_export_dir(export)
    gover, stamp = local_facts(settings)
    try:
        platform = target_platform(settings, gover)
    except SettingsError as e:
        fail(str(e))
    args = build_args(settings, stamp, gover)
    if settings.sbom and "sbom" not in targets:
        targets = (*targets, "sbom")
    if problem := engine_problem():
        fail(f"no Docker engine reachable: {problem}; start dockerd or set DOCKER_HOST", EXIT_ENGINE)
    with recorded("docker-build", settings, export, targets=list(targets)):
        import time
        from concurrent.futures import ThreadPoolExecutor

        from pipeline.reports.docker_adapter import TargetLog, docker_lane_report
        from pipeline.reports.facts import test_outcome, tests_text
        from pipeline.reports.files import write_report_files
        from pipeline.docker_lane.progress import LiveProgress, failure_lines

        log_paths = {t: export / "logs" / f"{t}.log" for t in targets}
        click.echo(f"docker build: {', '.join(targets)}; BuildKit logs in {export / 'logs'}", err=True)

        def one(target: str):
            b = DockerBuild(
                context=settings.source, target=target, args=args, ca_cert=settings.ca_cert, go_netrc=settings.go_netrc,
                platform=platform,
                tag=settings.image_name(target, stamp.version) if target in ("manager", "worker") else None,
                output=export / target if target in EXPORTS else None,
            )
            t0 = time.monotonic()
            proc = b.run(log_path=log_paths[target], on_line=lambda line: live.line(target, line))
            return b, proc, time.monotonic() - t0

        # All targets at once: BuildKit runs the steps they share once.
        code, logs, images, failed = 0, [], {}, {}
        with LiveProgress(sys.stderr, progress) as live, ThreadPoolExecutor(max(1, len(targets))) as pool:
            results = list(pool.map(one, targets))
        for target, (b, proc, seconds) in zip(targets, results):
            text = proc.stdout + proc.stderr
            logs.append(TargetLog(target, text, seconds=seconds, started=0.0))
            status = "ok" if proc.returncode == 0 else f"FAILED (exit {proc.returncode})"
            click.echo(f"{target}: {status} in {seconds:.1f}s" + (f" -> {b.tag}" if b.tag and not proc.returncode else ""))
            if proc.returncode:
                failed[target] = text
                code = EXIT_FAILED
            elif b.tag:
                images[target] = b.tag
        for line in failure_lines(failed, log_paths, ca_cert_given=settings.ca_cert is not None):
            click.echo(line, err=True)
        junit = export / "reports" / "junit.xml"
        tests = test_outcome(junit, "JUnit report reports/junit.xml (gotestsum)") if junit.is_file() else None
        report = docker_lane_report(logs, images, settings=settings, stamp=stamp, go_version=gover, tests=tests)
        for path in write_report_files(report, export).values():
            click.echo(f"wrote {path}")
        if tests:
            click.echo(f"tests: {tests_text(tests)}" + (f" (failing: {', '.join(tests['failures'][:5])})"
                                                          if tests["failures"] else ""))
        if code == 0 and (go_exit := tests_failed(export / "reports")) is not None:
            click.echo(f"flamenco-pipeline: error: go test failed (exit {go_exit}); reports in {export / 'reports'}", err=True)
            code = EXIT_FAILED
        sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
