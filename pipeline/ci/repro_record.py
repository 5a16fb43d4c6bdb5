"""repro.json: what one pipeline run was, precisely enough to run it again elsewhere.

This module builds, writes and loads the record; pipeline.ci.repro_call translates between
`dagger call` and CLI argv, pipeline.ci.repro_trust validates a loaded record, and
pipeline.ci.repro_rerun shows and re-runs it.

Every CLI pipeline run (build, test, check, ci, publish, docker build) writes one
into its export directory (the current directory for check and publish) *before*
it starts, so a crash still leaves it, and records the exit code at the end. CI
jobs that run `dagger call` directly write one with
`flamenco-pipeline repro repro.json --record '<dagger call arguments>'`.

What it holds: the source (path, revision, remote) and the module revision, the
dagger-io / Dagger CLI / pipeline versions, the function with its arguments, the
exact `dagger call` argv and the equivalent `flamenco-pipeline` argv, and the
effective settings (`pipeline.core.settings.public_view`). Secrets appear only as
references (`env://REGISTRY_PASSWORD`, `file:///home/me/.netrc`), never as values:
the CLI takes them as an env var *name* or a file *path*, and `--record` refuses a
secret argument that is not a reference.

`flamenco-pipeline repro repro.json` re-runs the recorded call with the Dagger CLI
after checking that the source and module checkouts are at the recorded revisions.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from pipeline.ci.repro_call import (
    SECRET_ARGS, DaggerCall, ReproError, cli_argv, cli_command, cli_line, constructor_params, dagger_call_for_cli, kebab,
)
from pipeline.ci.repro_trust import trusted


SCHEMA = "flamenco-pipeline/repro@1"
FILE_NAME = "repro.json"
SECRET_SETTINGS = frozenset({"go_netrc"})  # the subset that are settings (constructor arguments)
REFERENCE_RE = re.compile(r"^(env|file|cmd|op|vault|libsecret)://\S+$")


def git_output(path: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _strip_userinfo(url: str | None) -> str | None:
    """Remote URLs may carry a token (CI checkouts): keep scheme, host and path only."""
    from pipeline.core.validate import strip_userinfo

    return strip_userinfo(url)


def checkout_facts(path: Path) -> dict[str, Any]:
    """Revision, dirtiness and remote of a git checkout (empty facts if it is not one)."""
    top = git_output(path, "rev-parse", "--show-toplevel")
    if top is None:
        return {"revision": None}
    return {
        "revision": git_output(path, "rev-parse", "HEAD"),
        "dirty": bool(git_output(path, "status", "--porcelain", "--untracked-files=no")),
        "url": _strip_userinfo(git_output(path, "remote", "get-url", "origin")),
    }


def _display(path: Path | str, cwd: Path) -> str:
    """A path as recorded: relative to the working directory when inside it."""
    p = Path(path)
    if not p.is_absolute():
        return str(p)
    try:
        return str(p.resolve().relative_to(cwd.resolve())) or "."
    except ValueError:
        return str(p)


def _looks_remote(value: str) -> bool:
    return "://" in value or value.startswith("git@")


def source_facts(source: str | None, settings, cwd: Path) -> dict[str, Any]:
    if source is None:
        return {"kind": "git", "url": settings.git_url, "ref": settings.git_ref, "revision": settings.git_ref}
    if _looks_remote(source):
        return {"kind": "git", "url": source, "revision": source.partition("#")[2] or None}
    return {"kind": "local", "path": source, **checkout_facts(cwd / source)}


def find_module_root(start: Path) -> Path | None:
    for d in [start, *start.parents]:
        if (d / "dagger.json").is_file():
            return d
    return None


def module_facts(module: str | None, cwd: Path) -> dict[str, Any]:
    if module:
        return {"ref": module, "revision": module.partition("@")[2] or None}
    root = find_module_root(cwd)
    if root is None:
        from pipeline.docker_lane.build import REPO_ROOT  # the CLI runs its own module

        root = REPO_ROOT or Path(__file__).resolve().parents[1]  # an installed package (pipeline/): no checkout
    return {"ref": ".", "path": _display(root, cwd), **checkout_facts(root)}


def versions() -> dict[str, str | None]:
    from importlib import metadata

    from pipeline import __version__
    from pipeline.ci.commands import DAGGER_VERSION

    try:
        sdk = metadata.version("dagger-io")
    except metadata.PackageNotFoundError:
        sdk = None
    return {
        "pipeline": __version__,
        "dagger_io": sdk,
        "dagger_cli": DAGGER_VERSION,
        "python": ".".join(map(str, sys.version_info[:3])),
    }


def ci_facts() -> dict[str, str] | None:
    env = os.environ
    if env.get("GITHUB_ACTIONS") == "true":
        run = f"{env.get('GITHUB_SERVER_URL', '')}/{env.get('GITHUB_REPOSITORY', '')}/actions/runs/{env.get('GITHUB_RUN_ID', '')}"
        return {"system": "github", "run_url": run, "commit": env.get("GITHUB_SHA", "")}
    if env.get("GITLAB_CI") == "true":
        return {"system": "gitlab", "run_url": env.get("CI_JOB_URL", ""), "commit": env.get("CI_COMMIT_SHA", "")}
    return None


# --- settings with secrets as references ------------------------------------------------
def settings_view(settings, *, secret_refs: dict[str, str]) -> dict[str, Any]:
    """`public_view` with every secret setting replaced by its reference."""
    from pipeline.core.settings import public_view

    view = public_view(settings)
    for name in SECRET_SETTINGS:
        if name in secret_refs:
            view[name] = secret_refs[name]
        elif name in view:
            view[name] = f"file://{Path(view[name]).resolve()}"
    return view


def _check_reference(name: str, value: str | None) -> None:
    if not REFERENCE_RE.match(value or ""):
        raise ReproError(
            f"invalid option --record: argument --{kebab(name)} is a secret; pass a reference such as "
            f"env://{name.upper()} or file://PATH, never the value"
        )


# --- building records ------------------------------------------------------------------------
def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def record_for_cli(function: str, settings, *, export: Path | None, function_args: dict[str, Any] | None = None,
                   cwd: Path | None = None) -> dict[str, Any]:
    """The record of a `flamenco-pipeline <function>` run (function "docker-build" for the Docker lane)."""
    cwd = cwd or Path.cwd()
    function_args = dict(function_args or {})
    source = _display(settings.source, cwd) if settings.source is not None else None
    export_s = _display(export, cwd) if export is not None else None
    secret_refs = {k: v for k, v in function_args.items() if k in SECRET_ARGS}
    if settings.go_netrc is not None:
        secret_refs["go_netrc"] = f"file://{Path(settings.go_netrc).resolve()}"

    argv, env = cli_command(function, settings, source=source, export=export_s, function_args=function_args)
    if function == "docker-build":
        lane = "docker"
        call, missing = None, []
    else:
        lane = "dagger"
        dagger_args = {k: v for k, v in function_args.items() if k in ("username", "password")}
        call, missing = dagger_call_for_cli(function, settings, export=export_s, function_args=dagger_args, source=source)
    return _record(
        entry="cli", lane=lane, function=function,
        arguments={**function_args, **({"export": export_s} if export_s else {})},
        call=call, cli=(argv, env), settings=settings_view(settings, secret_refs=secret_refs),
        source=source_facts(source, settings, cwd), module=module_facts(None, cwd), secrets=secret_refs,
        not_in_dagger_call=missing,
    )


def record_for_dagger_call(args: str, *, module: str | None = None, cwd: Path | None = None) -> dict[str, Any]:
    """The record of a CI job's `dagger call <args>` (written before the call runs)."""
    from pipeline.core.settings import ArgSettings, SettingsError, load_settings

    cwd = cwd or Path.cwd()
    call = DaggerCall.parse(args, module=module)
    secret_refs: dict[str, str] = {}
    kwargs: dict[str, Any] = {}
    for name, value in {**call.constructor, **call.function_args}.items():
        if name in SECRET_ARGS:
            _check_reference(name, value)
            secret_refs[name] = value or ""
    for name, value in call.constructor.items():
        if name in SECRET_ARGS:
            continue
        if name == "source":
            if not _looks_remote(value or ""):
                kwargs["source"] = (cwd / (value or "")).resolve()
            continue
        kwargs[name] = True if value is None else value
    unknown = sorted(set(kwargs) - constructor_params())
    if unknown:
        raise ReproError(f"invalid option --record: unknown constructor argument --{kebab(unknown[0])}; see `dagger call --help`")
    try:
        settings = load_settings(ArgSettings, **kwargs)
    except SettingsError as e:
        raise ReproError(str(e)) from None
    source = call.constructor.get("source")
    view = settings_view(settings, secret_refs={k: v for k, v in secret_refs.items() if k in SECRET_SETTINGS})
    if "source" in view and source is not None:
        view["source"] = source
    record = _record(
        entry="dagger-call", lane="dagger", function=call.function,
        arguments={**{k: (v if v is not None else True) for k, v in call.function_args.items()}},
        call=call, cli=cli_argv(call), settings=view, source=source_facts(source, settings, cwd),
        module=module_facts(module, cwd), secrets=secret_refs,
    )
    try:
        trusted(record)  # a record `repro` would refuse is refused now, where the mistake is made
    except ReproError as e:
        raise ReproError("invalid option --record: " + str(e).removeprefix("invalid repro file: ")) from None
    return record


def _record(*, entry, lane, function, arguments, call, cli, settings, source, module, secrets,
            not_in_dagger_call=()) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "recorded_at": _now(),
        "entry": entry,
        "lane": lane,
        "function": function,
        "arguments": arguments,
        "dagger": None if call is None else {"argv": call.argv(), "line": call.line(),
                                             "not_expressible": list(not_in_dagger_call)},
        "cli": None if cli is None else {"argv": cli[0], "env": cli[1],
                                         "line": cli_line(cli[0], cli[1])},
        "source": source,
        "module": module,
        "versions": versions(),
        "settings": settings,
        "secrets": secrets,
        "ci": ci_facts(),
        "outcome": {"exit_code": None},
    }


# --- files ------------------------------------------------------------------------------------
def write(record: dict[str, Any], path: Path) -> Path:
    """The one repro.json writer: every string redacted (validated values carry no credentials;
    this is the last line of defence for anything else)."""
    from pipeline.core.validate import redact_deep

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(redact_deep(record), indent=2, sort_keys=False) + "\n")
    return path


def set_outcome(path: Path, exit_code: int | str | None) -> None:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    record["outcome"] = {"exit_code": exit_code, "finished_at": _now()}
    write(record, path)


REQUIRED_KEYS = ("schema", "entry", "lane", "function", "dagger", "cli", "source", "module", "versions", "settings")


def load(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ReproError(f"invalid argument REPRO_JSON={str(path)!r}: no such file; download the job's repro artifact or pass its path")
    try:
        record = json.loads(path.read_text())
    except ValueError as e:
        raise ReproError(f"invalid argument REPRO_JSON={str(path)!r}: not JSON ({e}); pass a repro.json written by flamenco-pipeline") from None
    if not isinstance(record, dict) or record.get("schema") != SCHEMA:
        found = record.get("schema") if isinstance(record, dict) else type(record).__name__
        raise ReproError(f"invalid argument REPRO_JSON={str(path)!r}: schema {found!r}, expected {SCHEMA!r}; "
                         "record it again with this flamenco-pipeline version")
    missing = [k for k in REQUIRED_KEYS if k not in record]
    if missing:
        raise ReproError(f"invalid argument REPRO_JSON={str(path)!r}: missing key {missing[0]!r}; the file is truncated or edited")
    return record
