"""repro.json: what one pipeline run was, precisely enough to run it again elsewhere.

Every CLI pipeline run (build, test, check, ci, publish, docker build) writes one
into its export directory (the current directory for check and publish) *before*
it starts, so a crash still leaves it, and records the exit code at the end. CI
jobs that run `dagger call` directly write one with
`flamenco-pipeline repro repro.json --record '<dagger call arguments>'`.

What it holds: the source (path, revision, remote) and the module revision, the
dagger-io / Dagger CLI / pipeline versions, the function with its arguments, the
exact `dagger call` argv and the equivalent `flamenco-pipeline` argv, and the
effective settings (`pipeline.settings.public_view`). Secrets appear only as
references (`env://REGISTRY_PASSWORD`, `file:///home/me/.netrc`), never as values:
the CLI takes them as an env var *name* or a file *path*, and `--record` refuses a
secret argument that is not a reference.

`flamenco-pipeline repro repro.json` re-runs the recorded call with the Dagger CLI
after checking that the source and module checkouts are at the recorded revisions.
"""

from __future__ import annotations

import ast
import datetime as _dt
import functools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA = "flamenco-pipeline/repro@1"
FILE_NAME = "repro.json"

# Arguments whose values are secrets: a Dagger `Secret` is passed as a reference
# (env://VAR, file://PATH, cmd://…, op://…, vault://…, libsecret://…).
SECRET_ARGS = frozenset({"password", "go_netrc"})
SECRET_SETTINGS = frozenset({"go_netrc"})  # the subset that are settings (constructor arguments)
REFERENCE_RE = re.compile(r"^(env|file|cmd|op|vault|libsecret)://\S+$")
# Environment that changes what the CLI does; cleared when re-running the Docker lane.
SETTINGS_ENV_PREFIX = "FLAMENCO_PIPELINE_"
GO_ENV = ("GOPROXY", "GOSUMDB", "GOPRIVATE", "GONOSUMDB", "GONOPROXY")


class ReproError(ValueError):
    """A one-line, user-fixable problem; `code` is the CLI exit code."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


def _is_bool(name: str) -> bool:
    """Boolean settings are bare flags (`--sbom`) on both command lines."""
    from pipeline.settings import Settings

    f = Settings.model_fields.get(name)
    return f is not None and f.annotation is bool


@functools.lru_cache(maxsize=1)
def constructor_params() -> frozenset[str]:
    """The module constructor's arguments (`FlamencoPipeline.create`), read from its source.

    Parsed rather than imported: importing pipeline.main imports the Dagger SDK.
    """
    tree = ast.parse(Path(__file__).with_name("main.py").read_text())
    for cls in tree.body:
        if isinstance(cls, ast.ClassDef) and cls.name == "FlamencoPipeline":
            for fn in cls.body:
                if isinstance(fn, ast.AsyncFunctionDef | ast.FunctionDef) and fn.name == "create":
                    return frozenset(a.arg for a in fn.args.args[1:] + fn.args.kwonlyargs)
    raise RuntimeError("FlamencoPipeline.create not found in pipeline/main.py")


def _kebab(name: str) -> str:
    return name.replace("_", "-")


def _snake(flag: str) -> str:
    return flag.removeprefix("--").replace("-", "_")


# --- `dagger call` argv ---------------------------------------------------------------
@dataclass
class DaggerCall:
    """`dagger [-m MODULE] call [CONSTRUCTOR ARGS] FUNCTION [ARGS] [CHAIN…]`.

    Arguments are kept as strings exactly as typed (`--name=value`, or a bare
    `--flag` for booleans), so rendering gives back the same argv.
    """

    function: str
    constructor: dict[str, str | None] = field(default_factory=dict)
    function_args: dict[str, str | None] = field(default_factory=dict)
    chain: list[str] = field(default_factory=list)
    module: str | None = None

    @staticmethod
    def _flags(args: dict[str, str | None]) -> list[str]:
        return [f"--{_kebab(k)}" if v is None else f"--{_kebab(k)}={v}" for k, v in args.items()]

    def argv(self, *, interactive: bool = False) -> list[str]:
        """Everything after `dagger`."""
        head = (["-m", self.module] if self.module else []) + ["call"] + (["--interactive"] if interactive else [])
        return head + self._flags(self.constructor) + [self.function] + self._flags(self.function_args) + self.chain

    def line(self, *, interactive: bool = False) -> str:
        return shlex.join(["dagger", *self.argv(interactive=interactive)])

    @classmethod
    def parse(cls, args: str | list[str], *, module: str | None = None) -> DaggerCall:
        """Arguments after `dagger call`, e.g. `--source=flamenco ci dist export --path dist`."""
        tokens = shlex.split(args) if isinstance(args, str) else list(args)
        if tokens[:1] == ["dagger"]:
            raise ReproError("invalid option --record: give the arguments after `dagger call`, not the command itself")

        def flags(i: int, what: str) -> tuple[dict[str, str | None], int]:
            out: dict[str, str | None] = {}
            while i < len(tokens) and tokens[i].startswith("--"):
                tok = tokens[i]
                name, eq, value = tok.partition("=")
                key = _snake(name)
                if not eq and not _is_bool(key):
                    raise ReproError(
                        f"invalid option --record: {what} argument {tok!r} has no value; write it as {name}=VALUE"
                    )
                out[key] = value if eq else None
                i += 1
            return out, i

        constructor, i = flags(0, "constructor")
        if i >= len(tokens):
            raise ReproError("invalid option --record: no function named; e.g. --record '--source=. ci dist export --path dist'")
        function = tokens[i]
        function_args, j = flags(i + 1, f"{function!r}")
        return cls(function=function, constructor=constructor, function_args=function_args,
                   chain=tokens[j:], module=module)


# --- equivalents between the CLI and `dagger call` --------------------------------------
def _export_chain(function: str, export: str) -> list[str]:
    field_ = {"ci": ["dist"], "test": ["reports"]}.get(function, [])
    return [*field_, "export", "--path", export]


def _export_from_chain(function: str, chain: list[str]) -> str | None:
    """The export directory of `ci dist export --path X` & co; None if the chain is something else."""
    want = {"ci": ["dist"], "test": ["reports"], "build": []}.get(function)
    if want is None:
        return None
    if chain[: len(want) + 1] == [*want, "export"]:
        rest = chain[len(want) + 1:]
        if len(rest) == 2 and rest[0] == "--path":
            return rest[1]
        if len(rest) == 1 and rest[0].startswith("--path="):
            return rest[0].split("=", 1)[1]
    return None


def cli_argv(call: DaggerCall) -> tuple[list[str], dict[str, str]] | None:
    """The `flamenco-pipeline` argv (and extra env) equivalent to a `dagger call`, if there is one."""
    from pipeline.cli import SETTING_FLAGS

    cli_settings = {n for n, _, _ in SETTING_FLAGS}
    f, chain = call.function, call.chain
    if f == "ci" and chain == ["verdict"]:
        argv = ["ci"]
    elif f in ("ci", "test", "build") and (export := _export_from_chain(f, chain)) is not None:
        argv = [f, "--export", export]
    elif f == "check" and not chain:
        argv = ["check"]
    elif f == "publish" and not chain and set(call.function_args) == {"username", "password"}:
        ref = call.function_args["password"] or ""
        if not ref.startswith("env://"):
            return None  # the CLI reads the password from an env var only
        argv = ["publish", "--username", call.function_args["username"] or "", "--password-env", ref[6:]]
    else:
        return None
    env: dict[str, str] = {}
    for name, value in call.constructor.items():
        if name == "go_netrc":
            if not (value or "").startswith("file://"):
                return None  # the CLI takes a netrc path
            argv += ["--go-netrc", value[7:]]
        elif _is_bool(name):
            if value is None or value.lower() == "true":
                argv.append(f"--{_kebab(name)}")
        elif name in cli_settings:
            argv += [f"--{_kebab(name)}", value or ""]
        else:
            env[f"{SETTINGS_ENV_PREFIX}{name.upper()}"] = value or ""
    return argv, env


def dagger_call_for_cli(function: str, settings, *, export: str | None, function_args: dict[str, str],
                        source: str | None) -> tuple[DaggerCall, list[str]]:
    """The `dagger call` equivalent to a CLI run (local module), and the settings it cannot express."""
    from pipeline.settings import Settings

    constructor: dict[str, str | None] = {}
    missing: list[str] = []
    if source is not None:
        constructor["source"] = source
    for name, info in Settings.model_fields.items():
        if name == "source":
            continue
        value = getattr(settings, name)
        if value is None or value == info.default:
            continue
        if name not in constructor_params():
            missing.append(name)  # a CLI-only setting: the module has no such argument
        elif _is_bool(name):
            constructor[name] = None
        elif name == "go_netrc":
            constructor[name] = f"file://{Path(value).resolve()}"
        elif isinstance(value, list):
            constructor[name] = ",".join(value)
        else:
            constructor[name] = str(value)
    if source is not None and settings.git_hash is None and not (Path(source) / ".git").exists():
        # The CLI fell back to the CI's commit variable; the module has no such fallback.
        from pipeline.source_facts import hash_from_ci_env

        if ci_hash := hash_from_ci_env():
            constructor["git_hash"] = ci_hash
    chain = [] if function in ("check", "publish") else _export_chain(function, export or "dist")
    return DaggerCall(function=function, constructor=constructor, function_args=dict(function_args), chain=chain), missing


def cli_settings_argv(settings, *, source: str | None) -> tuple[list[str], dict[str, str]]:
    """CLI flags for every non-default setting (env prefix for settings without a flag)."""
    from pipeline.cli import SETTING_FLAGS
    from pipeline.settings import Settings

    flags = {n for n, _, _ in SETTING_FLAGS}
    argv: list[str] = ["--source", source] if source is not None else []
    env: dict[str, str] = {}
    for name, info in Settings.model_fields.items():
        value = getattr(settings, name)
        if name == "source" or value is None or value == info.default:
            continue
        if _is_bool(name):
            argv.append(f"--{_kebab(name)}")
            continue
        text = ",".join(value) if isinstance(value, list) else str(value)
        if name in flags:
            argv += [f"--{_kebab(name)}", text]
        else:
            env[f"{SETTINGS_ENV_PREFIX}{name.upper()}"] = text
    return argv, env


# --- facts about the checkout -------------------------------------------------------------
def _git(path: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _strip_userinfo(url: str | None) -> str | None:
    """Remote URLs may carry a token (CI checkouts): keep scheme, host and path only."""
    if not url:
        return url
    return re.sub(r"^([a-z][a-z0-9+.-]*://)[^/@]*@", r"\1", url)


def checkout_facts(path: Path) -> dict[str, Any]:
    """Revision, dirtiness and remote of a git checkout (empty facts if it is not one)."""
    top = _git(path, "rev-parse", "--show-toplevel")
    if top is None:
        return {"revision": None}
    return {
        "revision": _git(path, "rev-parse", "HEAD"),
        "dirty": bool(_git(path, "status", "--porcelain", "--untracked-files=no")),
        "url": _strip_userinfo(_git(path, "remote", "get-url", "origin")),
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


def _find_module_root(start: Path) -> Path | None:
    for d in [start, *start.parents]:
        if (d / "dagger.json").is_file():
            return d
    return None


def module_facts(module: str | None, cwd: Path) -> dict[str, Any]:
    if module:
        return {"ref": module, "revision": module.partition("@")[2] or None}
    root = _find_module_root(cwd)
    if root is None:
        from pipeline.docker_lane import REPO_ROOT  # the CLI runs its own module

        root = REPO_ROOT or Path(__file__).resolve().parent  # an installed package: no checkout
    return {"ref": ".", "path": _display(root, cwd), **checkout_facts(root)}


def versions() -> dict[str, str | None]:
    from importlib import metadata

    from pipeline import __version__
    from pipeline.ci_commands import DAGGER_VERSION

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
    from pipeline.settings import public_view

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
            f"invalid option --record: argument --{_kebab(name)} is a secret; pass a reference such as "
            f"env://{name.upper()} or file://PATH, never the value"
        )


# --- building records ------------------------------------------------------------------------
def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _render_env(env: dict[str, str]) -> list[str]:
    return [f"{k}={v}" for k, v in sorted(env.items())]


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

    settings_argv, env = cli_settings_argv(settings, source=source)
    if function == "docker-build":
        lane = "docker"
        argv = ["docker", "build", *settings_argv]
        for t in function_args.get("targets", ()):
            argv += ["--target", t]
        argv += ["--export", export_s or "dist"]
        call, missing = None, []
    else:
        lane = "dagger"
        argv = [function, *settings_argv]
        if function in ("build", "test", "ci"):
            argv += ["--export", export_s or "dist"]
        if function == "publish":
            argv += ["--username", function_args["username"], "--password-env", function_args["password"][6:]]
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
    from pipeline.settings import ArgSettings, SettingsError, load_settings

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
        raise ReproError(f"invalid option --record: unknown constructor argument --{_kebab(unknown[0])}; see `dagger call --help`")
    try:
        settings = load_settings(ArgSettings, **kwargs)
    except SettingsError as e:
        raise ReproError(str(e)) from None
    source = call.constructor.get("source")
    view = settings_view(settings, secret_refs={k: v for k, v in secret_refs.items() if k in SECRET_SETTINGS})
    if "source" in view and source is not None:
        view["source"] = source
    return _record(
        entry="dagger-call", lane="dagger", function=call.function,
        arguments={**{k: (v if v is not None else True) for k, v in call.function_args.items()}},
        call=call, cli=cli_argv(call), settings=view, source=source_facts(source, settings, cwd),
        module=module_facts(module, cwd), secrets=secret_refs,
    )


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
                                         "line": shlex.join([*_render_env(cli[1]), "flamenco-pipeline", *cli[0]])},
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
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, sort_keys=False) + "\n")
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


def recorded_call(record: dict[str, Any]) -> DaggerCall | None:
    if not record.get("dagger"):
        return None
    argv = list(record["dagger"]["argv"])
    module = None
    if argv[:1] == ["-m"]:
        module, argv = argv[1], argv[2:]
    if argv[:1] != ["call"]:
        raise ReproError("invalid repro file: its dagger argv does not start with `call`; the file was edited")
    return DaggerCall.parse(argv[1:], module=module)


# --- what --print shows, and re-running -----------------------------------------------------
def describe(record: dict[str, Any], *, interactive: bool = False) -> str:
    """Shell-pasteable: comment lines, the `dagger call` line, then the CLI line."""
    src, mod = record["source"], record["module"]
    lines = [f"# flamenco-pipeline repro: `{record['function']}` recorded {record.get('recorded_at', '?')}"
             + (f" in {record['ci']['run_url']}" if record.get("ci") else "")]
    if src.get("kind") == "local":
        where = f" ({src['url']})" if src.get("url") else ""
        lines.append(f"# source: {src['path']} at {src.get('revision') or 'an unknown revision (not a git checkout)'}{where}")
    else:
        lines.append(f"# source: {src.get('url')} at {src.get('revision') or src.get('ref')}")
    lines.append(f"# module: {mod.get('ref')} at {mod.get('revision') or 'an unknown revision'}")
    if refs := record.get("secrets"):
        lines.append("# secrets (references only): " + ", ".join(f"{k}={v}" for k, v in refs.items()))
    call = recorded_call(record)
    if call is not None:
        if missing := record["dagger"].get("not_expressible"):
            lines.append("# CLI-only settings the dagger call line cannot carry: " + ", ".join(missing))
        lines.append(call.line(interactive=interactive))
    else:
        lines.append("# recorded in the plain-Docker lane: no `dagger call` equivalent")
    if record.get("cli"):
        lines.append("# the same with the flamenco-pipeline CLI:")
        lines.append(record["cli"]["line"])
    return "\n".join(lines)


def _revision_problem(name: str, path: Path, want: str | None, *, url: str | None) -> str | None:
    if want is None:
        return None
    if not path.exists():
        fetch = f"git clone {url} {path} && " if url else ""
        return f"{name} {str(path)!r} is missing; get it at the recorded revision: {fetch}git -C {path} checkout --detach {want}"
    have = _git(path, "rev-parse", "HEAD")
    if have is None:
        return f"{name} {str(path)!r} is not a git checkout, so its revision cannot be checked; pass --any-revision to run anyway"
    if have != want:
        return (f"{name} {str(path)!r} is at {have[:12]}, the recorded run used {want[:12]}; "
                f"run `git -C {path} checkout --detach {want}` (fetch it first if missing) or pass --any-revision")
    return None


def check_revisions(record: dict[str, Any], cwd: Path) -> list[str]:
    """Problems that stop a faithful re-run (empty list: the checkouts match); dirty trees are warnings."""
    problems: list[str] = []
    warnings: list[str] = []
    src, mod = record["source"], record["module"]
    if src.get("kind") == "local":
        path = cwd / src["path"]
        if p := _revision_problem("source", path, src.get("revision"), url=src.get("url")):
            problems.append(p)
        elif src.get("revision") is None and path.exists() is False:
            problems.append(f"source {str(path)!r} is missing; run repro where the recorded run's working directory was")
        if src.get("dirty"):
            warnings.append("the recorded source had uncommitted changes; they are not in repro.json")
    if mod.get("ref") == ".":
        root = _find_module_root(cwd)
        if root is None:
            problems.append("no dagger.json in this directory or above; run repro in a flamenco-pipeline checkout")
        elif p := _revision_problem("module checkout", root, mod.get("revision"), url=mod.get("url")):
            problems.append(p)
    for w in warnings:
        print(f"flamenco-pipeline: warning: {w}", file=sys.stderr)
    return problems


def check_secrets(record: dict[str, Any]) -> None:
    for name, ref in (record.get("secrets") or {}).items():
        if ref.startswith("env://") and not os.environ.get(ref[6:]):
            raise ReproError(f"invalid environment: {ref[6:]} is empty; the recorded run took --{_kebab(name)} from {ref}; export it first")
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


def rerun_argv(record: dict[str, Any], *, interactive: bool) -> tuple[list[str], dict[str, str]]:
    """The argv to execute and the environment changes; Docker-lane records run the CLI."""
    if record["lane"] == "docker":
        if interactive:
            raise ReproError("invalid option --interactive: this run was recorded in the plain-Docker lane; Dagger's terminal needs a Dagger-lane record")
        return [sys.executable, "-m", "pipeline.cli", *record["cli"]["argv"]], dict(record["cli"].get("env") or {})
    call = recorded_call(record)
    if call is None:
        raise ReproError("invalid repro file: a Dagger-lane record without a dagger argv; the file was edited")
    return [dagger_cli((record.get("versions") or {}).get("dagger_cli") or ""), *call.argv(interactive=interactive)], {}


def rerun(record: dict[str, Any], *, interactive: bool = False, any_revision: bool = False,
          cwd: Path | None = None) -> int:
    cwd = cwd or Path.cwd()
    if not any_revision and (problems := check_revisions(record, cwd)):
        raise ReproError(problems[0])
    check_secrets(record)
    if missing := (record.get("dagger") or {}).get("not_expressible"):
        print("flamenco-pipeline: warning: the recorded CLI run also set " + ", ".join(missing)
              + ", which `dagger call` cannot take; the re-run uses their defaults", file=sys.stderr)
    argv, extra_env = rerun_argv(record, interactive=interactive)
    env = dict(os.environ)
    if record["lane"] == "docker":  # only what was recorded, not this shell's settings
        for k in list(env):
            if k.startswith(SETTINGS_ENV_PREFIX) or k in GO_ENV:
                del env[k]
    env.update(extra_env)
    print("flamenco-pipeline: re-running: " + shlex.join(["dagger" if record["lane"] == "dagger" else "flamenco-pipeline",
                                                          *argv[1 if record["lane"] == "dagger" else 3:]]), file=sys.stderr)
    return subprocess.call(argv, cwd=cwd, env=env)
