"""repro.json's two command lines: a `dagger call` argv (DaggerCall) and the equivalent
`flamenco-pipeline` argv, translated both ways from the settings registry."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


# Arguments whose values are secrets: a Dagger `Secret` is passed as a reference
# (env://VAR, file://PATH, cmd://…, op://…, vault://…, libsecret://…).
SECRET_ARGS = frozenset({"password", "go_netrc"})


# Environment that changes what the CLI does; cleared when re-running the Docker lane.
SETTINGS_ENV_PREFIX = "FLAMENCO_PIPELINE_"


class ReproError(ValueError):
    """A one-line, user-fixable problem; `code` is the CLI exit code."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


def is_bool(name: str) -> bool:
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


def kebab(name: str) -> str:
    return name.replace("_", "-")


def snake(flag: str) -> str:
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
        return [f"--{kebab(k)}" if v is None else f"--{kebab(k)}={v}" for k, v in args.items()]

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
                key = snake(name)
                if not eq and not is_bool(key):
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


def export_from_chain(function: str, chain: list[str]) -> str | None:
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
    elif f in ("ci", "test", "build") and (export := export_from_chain(f, chain)) is not None:
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
        elif is_bool(name):
            if value is None or value.lower() == "true":
                argv.append(f"--{kebab(name)}")
        elif name in cli_settings:
            argv += [f"--{kebab(name)}", value or ""]
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
        elif is_bool(name):
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
        if is_bool(name):
            argv.append(f"--{kebab(name)}")
            continue
        text = ",".join(value) if isinstance(value, list) else str(value)
        if name in flags:
            argv += [f"--{kebab(name)}", text]
        else:
            env[f"{SETTINGS_ENV_PREFIX}{name.upper()}"] = text
    return argv, env


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
