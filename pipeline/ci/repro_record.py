"""repro.json: what one pipeline run was, precisely enough to run it again elsewhere.

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
    from pipeline.core.settings import Settings

    f = Settings.model_fields.get(name)
    return f is not None and f.annotation is bool


def constructor_params() -> frozenset[str]:
    """The module constructor's arguments (`FlamencoPipeline.create`): one per setting.

    Taken from the settings registry, the one list both follow (importing the Dagger module
    would import the SDK); pipeline.dagger_lane.main checks at import that `create` takes
    exactly the settings, and pipeline.core.settings that the model has exactly these.
    """
    from pipeline.core.settings_registry import SETTINGS

    return frozenset(s.name for s in SETTINGS)


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
        try:
            tokens = shlex.split(args) if isinstance(args, str) else list(args)
        except ValueError as e:  # unbalanced quotes
            raise ReproError(f"invalid option --record: {e} in {args!r}; quote the arguments as a shell would") from None
        if not all(isinstance(t, str) for t in tokens):
            raise ReproError("invalid repro file: dagger.argv holds a non-string; the file was edited")
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
    from pipeline.core.settings_registry import SETTING_FLAGS

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
    from pipeline.core.settings import Settings

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
        from pipeline.core.source_facts import hash_from_ci_env

        if ci_hash := hash_from_ci_env():
            constructor["git_hash"] = ci_hash
    chain = [] if function in ("check", "publish") else _export_chain(function, export or "dist")
    return DaggerCall(function=function, constructor=constructor, function_args=dict(function_args), chain=chain), missing


def cli_settings_argv(settings, *, source: str | None) -> tuple[list[str], dict[str, str]]:
    """CLI flags for every non-default setting (env prefix for settings without a flag)."""
    from pipeline.core.settings_registry import SETTING_FLAGS
    from pipeline.core.settings import Settings

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
    from pipeline.core.validate import strip_userinfo

    return strip_userinfo(url)


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
            f"invalid option --record: argument --{_kebab(name)} is a secret; pass a reference such as "
            f"env://{name.upper()} or file://PATH, never the value"
        )


# --- building records ------------------------------------------------------------------------
def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _render_env(env: dict[str, str]) -> list[str]:
    return [f"{k}={v}" for k, v in sorted(env.items())]


def cli_line(argv: list[str], env: dict[str, str]) -> str:
    """`K=V … flamenco-pipeline ARGV` as a shell reads it: each value quoted after its `K=`
    (a quoted `'K=V'` would be a command name, not an assignment)."""
    assigns = [f"{k}={shlex.quote(v)}" for k, v in sorted(env.items())]
    return " ".join([*assigns, shlex.join(["flamenco-pipeline", *argv])])


def cli_command(function: str, settings, *, source: str | None, export: str | None,
                function_args: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    """The `flamenco-pipeline` argv and env of a CLI run: written into repro.json, and rebuilt
    from the record's validated settings when it is read back (see :func:`trusted`)."""
    settings_argv, env = cli_settings_argv(settings, source=source)
    if function == "docker-build":
        argv = ["docker", "build", *settings_argv]
        for t in function_args.get("targets", ()):
            argv += ["--target", t]
        return [*argv, "--export", export or "dist"], env
    argv = [function, *settings_argv]
    if function in ("build", "test", "ci"):
        argv += ["--export", export or "dist"]
    if function == "publish":
        argv += ["--username", function_args["username"], "--password-env", function_args["password"][6:]]
    return argv, env


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
        raise ReproError(f"invalid option --record: unknown constructor argument --{_kebab(unknown[0])}; see `dagger call --help`")
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


# --- the trust model: what a repro.json may make this machine do ------------------------------
# A repro.json is untrusted input (CI runs on pull requests; their authors control the artifact).
# Nothing in it runs or prints as a string: `trusted()` validates every field it uses with the
# validators the flags use, rebuilds the command from those values, and refuses anything else
# with one line. docs/security.md states the model; tests/test_repro_trust.py proves it.
KNOWN_KEYS = frozenset({"schema", "recorded_at", "entry", "lane", "function", "arguments", "dagger", "cli",
                        "source", "module", "versions", "settings", "secrets", "ci", "outcome"})
DAGGER_FUNCTIONS = ("ci", "test", "build", "check", "publish")  # what a record may call
PATH_SETTINGS = frozenset({"source", "ca_cert", "go_netrc"})  # checked as text; the re-run checks the files
MAX_FIELD = 8192
# Secret references a record may carry: never cmd:// (Dagger would run it on this host).
TRUSTED_REFERENCE_RE = re.compile(r"(env|file|op|vault|libsecret)://[A-Za-z0-9_./@:+-]{1,1000}", re.ASCII)
MODULE_REF_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,300}(?:@[A-Za-z0-9._/+-]{1,200})?", re.ASCII)
REVISION_RE = re.compile(r"[0-9a-f]{7,64}", re.ASCII)
from pipeline.core.validate import TARGET_RE, USERNAME_RE  # noqa: E402 (the CLI's own grammars)
DAGGER_VERSION_RE = re.compile(r"[0-9]{1,4}\.[0-9]{1,4}\.[0-9]{1,4}", re.ASCII)


@dataclass(frozen=True)
class Trusted:
    """What a validated record may make happen: built from validated values only."""

    lane: str
    function: str
    call: DaggerCall | None          # the Dagger lane: this argv runs
    cli: tuple[list[str], dict[str, str]]  # the Docker lane: this argv and env run; else shown only
    source: dict[str, Any]
    module: dict[str, Any]
    secrets: dict[str, str]
    dagger_cli: str
    not_expressible: tuple[str, ...]
    comment: str                     # the first comment line (function, time, CI run)

    def dagger_line(self, *, interactive: bool = False) -> str | None:
        return None if self.call is None else self.call.line(interactive=interactive)

    def cli_line(self) -> str:
        return cli_line(*self.cli)


def _refuse(field_: str, problem: str) -> ReproError:
    from pipeline.core.validate import one_line

    return ReproError(one_line(f"invalid repro file: {field_} {problem}; refusing to run or print it "
                               "(record the run again, or fix the field)", limit=600))


def _walk_text(value: Any, where: str) -> None:
    """Every string anywhere in the record is one bounded line of printable text without credentials."""
    from pipeline.core.validate import text

    if isinstance(value, dict):
        for k, v in value.items():
            _walk_text(k, f"{where} key")
            _walk_text(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _walk_text(v, f"{where}[{i}]")
    elif isinstance(value, str):
        try:
            text(value, max_len=MAX_FIELD)
        except ValueError as e:
            raise _refuse(where, str(e)) from None
    elif not (value is None or isinstance(value, bool | int | float)):
        raise _refuse(where, f"holds a {type(value).__name__}")


def _want(record: dict, key: str, kind: type | tuple, where: str | None = None) -> Any:
    value = record.get(key)
    if not isinstance(value, kind):
        raise _refuse(where or key, f"is {type(value).__name__}, not {getattr(kind, '__name__', kind)}")
    return value


def _grammar(regex: re.Pattern, value: Any, where: str, what: str) -> str:
    if not isinstance(value, str) or regex.fullmatch(value) is None:
        raise _refuse(where, f"{value!r} is not {what}")
    return value


def _plain_path(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value or value.startswith("-"):
        raise _refuse(where, f"{value!r} is not a path (empty or starting with '-')")
    return value


def _secret_ref(name: str, value: Any, where: str) -> str:
    if name not in SECRET_ARGS:
        raise _refuse(where, f"names {name!r}, which is not a secret argument ({', '.join(sorted(SECRET_ARGS))})")
    return _grammar(TRUSTED_REFERENCE_RE, value, where, "an env://, file://, op://, vault:// or libsecret:// reference "
                    "(cmd:// would run a command)")


def _trusted_settings(view: Any):
    """The record's settings through the same validators as flags (paths as text only)."""
    from pipeline.core.settings import ArgSettings, Settings, SettingsError, load_settings

    if not isinstance(view, dict):
        raise _refuse("settings", "is not an object")
    if unknown := sorted(set(view) - set(Settings.model_fields)):
        raise _refuse("settings", f"names {unknown[0]!r}, which is not a setting")
    plain = {k: v for k, v in view.items() if k not in PATH_SETTINGS}
    try:
        settings = load_settings(ArgSettings, **plain)
    except SettingsError as e:
        raise _refuse("settings", f"do not validate: {e}") from None
    paths = {}
    for name in PATH_SETTINGS & set(view):
        value = view[name]
        if name == "go_netrc":
            value = _secret_ref(name, value, "settings.go_netrc")
            if not value.startswith("file://"):
                raise _refuse("settings.go_netrc", "is not a file:// reference")
            value = value[len("file://"):]
        paths[name] = Path(_plain_path(value, f"settings.{name}"))
    return settings.model_copy(update=paths)


def _trusted_call(argv: Any, *, entry: str) -> DaggerCall:
    from pipeline.core.settings import ArgSettings, SettingsError, load_settings

    if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
        raise _refuse("dagger.argv", "is not a list of strings")
    module = None
    if argv[:1] == ["-m"]:
        module = _grammar(MODULE_REF_RE, argv[1] if len(argv) > 1 else None, "dagger.argv module",
                          "a module reference such as github.com/org/repo@v1.2.3")
        argv = argv[2:]
    if argv[:1] != ["call"]:
        raise _refuse("dagger.argv", "does not start with `call`")
    try:
        call = DaggerCall.parse(argv[1:], module=module)
    except ReproError as e:
        raise _refuse("dagger.argv", str(e).removeprefix("invalid option --record: ")) from None
    if call.function not in DAGGER_FUNCTIONS:
        raise _refuse("dagger.argv", f"calls {call.function!r}; a record may call only {', '.join(DAGGER_FUNCTIONS)}")
    if unknown := sorted(set(call.constructor) - constructor_params()):
        raise _refuse("dagger.argv", f"has the unknown constructor argument --{_kebab(unknown[0])}")
    kwargs: dict[str, Any] = {}
    for name, value in call.constructor.items():
        if name in SECRET_ARGS:
            _secret_ref(name, value, f"dagger.argv --{_kebab(name)}")
        elif name in PATH_SETTINGS:
            _plain_path(value, f"dagger.argv --{_kebab(name)}")
        else:
            kwargs[name] = True if value is None else value
    try:
        load_settings(ArgSettings, **kwargs)
    except SettingsError as e:
        raise _refuse("dagger.argv", f"does not validate: {e}") from None
    allowed_args = {"publish": {"username", "password"}}.get(call.function, set())
    if extra := sorted(set(call.function_args) - allowed_args):
        raise _refuse("dagger.argv", f"passes --{_kebab(extra[0])} to {call.function!r}, which takes no such argument")
    if call.function == "publish":
        _grammar(USERNAME_RE, call.function_args.get("username"), "dagger.argv --username", "a registry user name")
        _secret_ref("password", call.function_args.get("password"), "dagger.argv --password")
    chain_ok = (call.function == "ci" and call.chain == ["verdict"]) or \
        (call.function in ("check", "publish") and not call.chain)
    if not chain_ok:
        export = _export_from_chain(call.function, call.chain)
        if export is None:
            raise _refuse("dagger.argv", f"chains {' '.join(call.chain)!r} after {call.function!r}; a record may only "
                          "export the result (e.g. `ci dist export --path dist`) or ask `ci verdict`")
        _plain_path(export, "dagger.argv --path")
    return call


def _trusted_cli(record: dict, settings, source: str | None, *, lane: str, function: str,
                 call: DaggerCall | None) -> tuple[list[str], dict[str, str]]:
    """The CLI argv and env, rebuilt: from the validated call (dagger-call records) or settings."""
    from pipeline.core.spec import GO_MODULE_VARS

    stored = record.get("cli")
    if stored is not None:
        if not isinstance(stored, dict) or not isinstance(stored.get("env") or {}, dict):
            raise _refuse("cli", "is not an object with argv and env")
        settings_env = {f"{SETTINGS_ENV_PREFIX}{n.upper()}" for n in type(settings).model_fields}
        for key in stored.get("env") or {}:
            if key not in settings_env and key not in GO_MODULE_VARS:
                raise _refuse("cli.env", f"sets {key}, which is not a flamenco-pipeline setting; only "
                              "FLAMENCO_PIPELINE_<SETTING> and the Go module variables may be set")
    if record.get("entry") == "dagger-call":
        rebuilt = cli_argv(call) if call is not None else None
        if rebuilt is None:
            if stored is not None:
                raise _refuse("cli", "is set, but the recorded call has no CLI equivalent")
            return [], {}
    else:
        args = _want(record, "arguments", dict)
        function_args: dict[str, Any] = {}
        if function == "docker-build":
            targets = args.get("targets")
            if not isinstance(targets, list) or not targets:
                raise _refuse("arguments.targets", "is not a list of Dockerfile targets")
            function_args["targets"] = [_grammar(TARGET_RE, t, "arguments.targets", "a Dockerfile target") for t in targets]
        if function == "publish":
            function_args["username"] = _grammar(USERNAME_RE, args.get("username"), "arguments.username", "a user name")
            ref = _secret_ref("password", args.get("password"), "arguments.password")
            if not ref.startswith("env://"):
                raise _refuse("arguments.password", "is not an env:// reference")
            function_args["password"] = ref
        export = args.get("export")
        rebuilt = cli_command(function, settings, source=source, function_args=function_args,
                              export=None if export is None else _plain_path(export, "arguments.export"))
    if stored is not None and (stored.get("argv"), stored.get("env") or {}) != (rebuilt[0], rebuilt[1]):
        raise _refuse("cli", "does not match the command its settings give "
                      f"({shlex.join(rebuilt[0])}); the file was edited")
    if stored is not None and stored.get("line") != cli_line(*rebuilt):
        raise _refuse("cli.line", "is not the recorded command line; the file was edited")
    return rebuilt


def _trusted_facts(record: dict) -> tuple[dict, dict, dict, str]:
    from pipeline.core import validate

    src = _want(record, "source", dict)
    if src.get("kind") == "local":
        _plain_path(src.get("path"), "source.path")
    elif src.get("kind") != "git":
        raise _refuse("source.kind", f"{src.get('kind')!r} is neither 'local' nor 'git'")
    if src.get("url") is not None:
        try:
            validate.git_url(src["url"])
        except ValueError as e:
            raise _refuse("source.url", str(e)) from None
    for key in ("revision", "ref"):
        if src.get(key) is not None:
            try:
                validate.git_ref(src[key])
            except ValueError as e:
                raise _refuse(f"source.{key}", str(e)) from None
    mod = _want(record, "module", dict)
    if mod.get("ref") != ".":
        _grammar(MODULE_REF_RE, mod.get("ref"), "module.ref", "'.' or a module reference")
    if mod.get("revision") is not None and mod.get("ref") == ".":
        _grammar(REVISION_RE, mod["revision"], "module.revision", "a commit hash")
    secrets = record.get("secrets") or {}
    if not isinstance(secrets, dict):
        raise _refuse("secrets", "is not an object")
    for name, ref in secrets.items():
        _secret_ref(name, ref, f"secrets.{name}")
    ci = record.get("ci")
    run = ""
    if ci is not None:
        if not isinstance(ci, dict) or ci.get("system") not in ("github", "gitlab"):
            raise _refuse("ci", "is not a GitHub or GitLab run")
        run = f" in {ci.get('run_url')}"
    return src, mod, secrets, run


def trusted(record: dict[str, Any]) -> Trusted:
    """Validate a loaded record and rebuild what it may run; refuse anything else (one line)."""
    if unknown := sorted(set(record) - KNOWN_KEYS):
        raise _refuse(f"key {unknown[0]!r}", "is not part of a repro record")
    _walk_text(record, "repro")
    lane = record.get("lane")
    if lane not in ("dagger", "docker") or record.get("entry") not in ("cli", "dagger-call"):
        raise _refuse("lane/entry", f"{lane!r}/{record.get('entry')!r} is not dagger or docker / cli or dagger-call")
    function = _want(record, "function", str)
    settings = _trusted_settings(record.get("settings"))
    src, mod, secrets, run = _trusted_facts(record)
    call = None
    if lane == "dagger":
        dagger = _want(record, "dagger", dict)
        call = _trusted_call(dagger.get("argv"), entry=record["entry"])
        if call.function != function:
            raise _refuse("function", f"{function!r} is not the function its dagger argv calls ({call.function!r})")
        if dagger.get("line") != call.line():
            raise _refuse("dagger.line", "is not its dagger argv; the file was edited")
        mod_ref = None if mod.get("ref") == "." else mod.get("ref")
        if call.module != mod_ref:
            raise _refuse("module.ref", f"{mod.get('ref')!r} is not the module its dagger argv loads")
    else:
        if function != "docker-build" or record.get("dagger") is not None:
            raise _refuse("function", f"{function!r} is not a plain-Docker lane run")
    missing = tuple((record.get("dagger") or {}).get("not_expressible") or ())
    if bad := [m for m in missing if m not in type(settings).model_fields]:
        raise _refuse("dagger.not_expressible", f"names {bad[0]!r}, which is not a setting")
    source = src.get("path") if src.get("kind") == "local" else None
    cli = _trusted_cli(record, settings, source, lane=lane, function=function, call=call)
    versions_ = record.get("versions") or {}
    dagger_cli = versions_.get("dagger_cli") if isinstance(versions_, dict) else None
    if dagger_cli is not None:
        _grammar(DAGGER_VERSION_RE, dagger_cli, "versions.dagger_cli", "a Dagger version such as 0.21.11")
    comment = f"# flamenco-pipeline repro: `{function}` recorded {record.get('recorded_at', '?')}{run}"
    return Trusted(lane=lane, function=function, call=call, cli=cli, source=src, module=mod, secrets=dict(secrets),
                   dagger_cli=dagger_cli or "", not_expressible=missing, comment=comment)


def recorded_call(record: dict[str, Any]) -> DaggerCall | None:
    """The validated `dagger call` of a record (None for the Docker lane)."""
    return trusted(record).call


# --- what --print shows, and re-running -----------------------------------------------------
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
    have = _git(path, "rev-parse", "HEAD")
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
        root = _find_module_root(cwd)
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
