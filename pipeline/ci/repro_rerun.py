"""What `flamenco-pipeline repro` shows (--print) and re-runs, from a validated record only."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from pipeline.ci.repro_call import SETTINGS_ENV_PREFIX, ReproError, cli_line, kebab
from pipeline.ci.repro_record import find_module_root, git_output
from pipeline.ci.repro_trust import Trusted, trusted


GO_ENV = ("GOPROXY", "GOSUMDB", "GOPRIVATE", "GONOSUMDB", "GONOPROXY")


def describe(record: dict[str, Any] | Trusted, *, interactive: bool = False) -> str:
    """Shell-pasteable: comment lines (validated one-line text), then exactly the lines that run."""
    from pipeline.core.validate import one_line

    t = record if isinstance(record, Trusted) else trusted(record)
    src, mod = t.source, t.module
    lines = [t.comment]
    if src.get("kind") == "local":
        where = f" ({src['url']})" if src.get("url") else ""
        lines.append(f"# source: {src['path']} at {src.get('revision') or 'an unknown revision (not a git checkout)'}{where}")
    else:
        lines.append(f"# source: {src.get('url')} at {src.get('revision') or src.get('ref')}")
    lines.append(f"# module: {mod.get('ref')} at {mod.get('revision') or 'an unknown revision'}")
    if t.call is not None and t.call.module:
        lines.append(f"# this loads the remote module {t.call.module}; its code runs on your engine. "
                     f"Re-running needs --module {t.call.module}")
    if t.secrets:
        lines.append("# secrets (references only): " + ", ".join(f"{k}={v}" for k, v in t.secrets.items()))
    lines = [one_line(ln) for ln in lines]  # comments stay comments: one line each
    if t.call is not None:
        if t.not_expressible:
            lines.append("# CLI-only settings the dagger call line cannot carry: " + ", ".join(t.not_expressible))
        lines.append(t.call.line(interactive=interactive))
    else:
        lines.append("# recorded in the plain-Docker lane: no `dagger call` equivalent")
    if t.cli[0]:
        lines.append("# the same with the flamenco-pipeline CLI:")
        lines.append(t.cli_line())
    return "\n".join(lines)


def _revision_problem(name: str, path: Path, want: str | None, *, url: str | None) -> str | None:
    q = shlex.quote
    if want is None:
        return None
    if not path.exists():
        fetch = f"git clone {q(url)} {q(str(path))} && " if url else ""
        return f"{name} {str(path)!r} is missing; get it at the recorded revision: {fetch}git -C {q(str(path))} checkout --detach {q(want)}"
    have = git_output(path, "rev-parse", "HEAD")
    if have is None:
        return f"{name} {str(path)!r} is not a git checkout, so its revision cannot be checked; pass --any-revision to run anyway"
    if have != want:
        return (f"{name} {str(path)!r} is at {have[:12]}, the recorded run used {want[:12]}; "
                f"run `git -C {q(str(path))} checkout --detach {q(want)}` (fetch it first if missing) or pass --any-revision")
    return None


def check_revisions(record: dict[str, Any] | Trusted, cwd: Path) -> list[str]:
    """Problems that stop a faithful re-run (empty list: the checkouts match); dirty trees are warnings."""
    t = record if isinstance(record, Trusted) else trusted(record)
    problems: list[str] = []
    warnings: list[str] = []
    src, mod = t.source, t.module
    if src.get("kind") == "local":
        path = cwd / src["path"]
        if p := _revision_problem("source", path, src.get("revision"), url=src.get("url")):
            problems.append(p)
        elif src.get("revision") is None and path.exists() is False:
            problems.append(f"source {str(path)!r} is missing; run repro where the recorded run's working directory was")
        if src.get("dirty"):
            warnings.append("the recorded source had uncommitted changes; they are not in repro.json")
    if mod.get("ref") == ".":
        root = find_module_root(cwd)
        if root is None:
            problems.append("no dagger.json in this directory or above; run repro in a flamenco-pipeline checkout")
        elif p := _revision_problem("module checkout", root, mod.get("revision"), url=mod.get("url")):
            problems.append(p)
    for w in warnings:
        print(f"flamenco-pipeline: warning: {w}", file=sys.stderr)
    return problems


def check_secrets(record: dict[str, Any] | Trusted) -> None:
    t = record if isinstance(record, Trusted) else trusted(record)
    for name, ref in t.secrets.items():
        if ref.startswith("env://") and not os.environ.get(ref[6:]):
            raise ReproError(f"invalid environment: {ref[6:]} is empty; the recorded run took --{kebab(name)} from {ref}; export it first")
        if ref.startswith("file://") and not Path(ref[7:]).is_file():
            raise ReproError(f"invalid secret {name}={ref}: no such file here; create it or edit the path in repro.json")


def dagger_cli(want: str) -> str:
    """The Dagger CLI to run: $_EXPERIMENTAL_DAGGER_CLI_BIN, `dagger` on PATH, else the one the SDK fetches."""
    if env_bin := os.environ.get("_EXPERIMENTAL_DAGGER_CLI_BIN"):
        return env_bin
    if on_path := shutil.which("dagger"):
        out = subprocess.run([on_path, "version"], capture_output=True, text=True, timeout=30)
        if f"v{want}" not in out.stdout:
            print(f"flamenco-pipeline: warning: {on_path} is not Dagger v{want} ({out.stdout.strip() or 'unknown'}); "
                  "results may differ", file=sys.stderr)
        return on_path
    try:
        from dagger.provisioning._download import Downloader  # the SDK's own, checksum-verified

        return Downloader().get_sync()
    except Exception as e:  # noqa: BLE001 - any provisioning failure is one line
        raise ReproError(f"no Dagger CLI: `dagger` is not on PATH and the SDK could not fetch v{want} ({e}); "
                         "install the Dagger CLI", code=3) from None


#: How the Docker lane re-runs our own CLI: isolated mode (-I), so neither PYTHON* variables
#: nor the working directory's files can change what the interpreter loads.
CLI_PREFIX = (sys.executable, "-I", "-m", "pipeline.cli")


def rerun_argv(record: dict[str, Any] | Trusted, *, interactive: bool) -> tuple[list[str], dict[str, str]]:
    """The argv to execute and the environment changes, from validated values only."""
    t = record if isinstance(record, Trusted) else trusted(record)
    if t.lane == "docker":
        if interactive:
            raise ReproError("invalid option --interactive: this run was recorded in the plain-Docker lane; Dagger's terminal needs a Dagger-lane record")
        return [*CLI_PREFIX, *t.cli[0]], dict(t.cli[1])
    return [dagger_cli(t.dagger_cli), *t.call.argv(interactive=interactive)], {}


def rerun(record: dict[str, Any] | Trusted, *, interactive: bool = False, any_revision: bool = False,
          cwd: Path | None = None, module: str | None = None) -> int:
    """Re-run a validated record. `module`: the remote module the user trusts (`--module`)."""
    t = record if isinstance(record, Trusted) else trusted(record)
    cwd = cwd or Path.cwd()
    if t.call is not None and t.call.module and t.call.module != module:
        raise ReproError(f"invalid repro file: it loads the remote module {t.call.module}, whose code would run on "
                         f"your engine; pass --module {t.call.module} if you trust it")
    if not any_revision and (problems := check_revisions(t, cwd)):
        raise ReproError(problems[0])
    check_secrets(t)
    if t.not_expressible:
        print("flamenco-pipeline: warning: the recorded CLI run also set " + ", ".join(t.not_expressible)
              + ", which `dagger call` cannot take; the re-run uses their defaults", file=sys.stderr)
    argv, extra_env = rerun_argv(t, interactive=interactive)
    env = dict(os.environ)
    if t.lane == "docker":  # only what was recorded, not this shell's settings
        for k in list(env):
            if k.startswith(SETTINGS_ENV_PREFIX) or k in GO_ENV:
                del env[k]
    env.update(extra_env)
    shown = shlex.join(["dagger", *argv[1:]]) if t.lane == "dagger" else cli_line(argv[len(CLI_PREFIX):], extra_env)
    print("flamenco-pipeline: re-running: " + shown, file=sys.stderr)
    return subprocess.call(argv, cwd=cwd, env=env)
