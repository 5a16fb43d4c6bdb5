"""The trust model: what a repro.json may make this machine do.

A repro.json is untrusted input (CI runs on pull requests; their authors control the artifact).
Nothing in it runs or prints as a string: `trusted()` validates every field it uses with the
validators the flags use, rebuilds the command from those values, and refuses anything else
with one line. docs/security.md states the model; tests/test_repro_trust.py proves it.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.ci.repro_call import (
    SECRET_ARGS, SETTINGS_ENV_PREFIX, DaggerCall, ReproError, cli_argv, cli_command, cli_line, constructor_params,
    export_from_chain, kebab,
)
from pipeline.core.validate import TARGET_RE, USERNAME_RE  # the CLI's own grammars


KNOWN_KEYS = frozenset({"schema", "recorded_at", "entry", "lane", "function", "arguments", "dagger", "cli",
                        "source", "module", "versions", "settings", "secrets", "ci", "outcome"})
DAGGER_FUNCTIONS = ("ci", "test", "build", "check", "publish")  # what a record may call
PATH_SETTINGS = frozenset({"source", "ca_cert", "go_netrc"})  # checked as text; the re-run checks the files
MAX_FIELD = 8192
# Secret references a record may carry: never cmd:// (Dagger would run it on this host).
TRUSTED_REFERENCE_RE = re.compile(r"(env|file|op|vault|libsecret)://[A-Za-z0-9_./@:+-]{1,1000}", re.ASCII)
MODULE_REF_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,300}(?:@[A-Za-z0-9._/+-]{1,200})?", re.ASCII)
REVISION_RE = re.compile(r"[0-9a-f]{7,64}", re.ASCII)
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
        raise _refuse("dagger.argv", f"has the unknown constructor argument --{kebab(unknown[0])}")
    kwargs: dict[str, Any] = {}
    for name, value in call.constructor.items():
        if name in SECRET_ARGS:
            _secret_ref(name, value, f"dagger.argv --{kebab(name)}")
        elif name in PATH_SETTINGS:
            _plain_path(value, f"dagger.argv --{kebab(name)}")
        else:
            kwargs[name] = True if value is None else value
    try:
        load_settings(ArgSettings, **kwargs)
    except SettingsError as e:
        raise _refuse("dagger.argv", f"does not validate: {e}") from None
    allowed_args = {"publish": {"username", "password"}}.get(call.function, set())
    if extra := sorted(set(call.function_args) - allowed_args):
        raise _refuse("dagger.argv", f"passes --{kebab(extra[0])} to {call.function!r}, which takes no such argument")
    if call.function == "publish":
        _grammar(USERNAME_RE, call.function_args.get("username"), "dagger.argv --username", "a registry user name")
        _secret_ref("password", call.function_args.get("password"), "dagger.argv --password")
    chain_ok = (call.function == "ci" and call.chain == ["verdict"]) or \
        (call.function in ("check", "publish") and not call.chain)
    if not chain_ok:
        export = export_from_chain(call.function, call.chain)
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
