"""Pipeline settings: one pydantic-settings model, every default resolved here.

Sources, lowest to highest precedence: defaults < `.env` < environment
(`FLAMENCO_PIPELINE_*`; the Go module variables also under their plain names,
so a developer's own `GOPROXY` is passed through) < CLI flags / `dagger call`
arguments. Every value is validated by :mod:`pipeline.core.validate`; a bad value
becomes a :class:`SettingsError` whose message is one line naming the setting,
the value and the fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import AliasChoices, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipeline.core import validate

from pipeline.core import settings_registry as _reg
from pipeline.core.settings_registry import ENV_PREFIX, HOST_OBJECTS, SETTINGS, setting  # noqa: F401 (re-exported)

# Defaults live in the engine-free stage spec, read through the settings registry
# (one source for both lanes and the committed Dockerfile's ARG defaults).
from pipeline.core.spec import (  # noqa: E402, F401 (re-exported)
    GOTESTSUM_VERSION, NODE_IMAGE, PYTHON_IMAGE, RUNTIME_IMAGE, STATICCHECK_VERSION, UPSTREAM_GIT_REF, UPSTREAM_GIT_URL,
)


# Settings checked by one single-value validator each (pipeline.core.validate).
_SIMPLE_VALIDATORS = {
    **dict.fromkeys(
        ("go_image", "node_image", "python_image", "runtime_image", "manager_image_name", "worker_image_name"),
        validate.image_ref,
    ),
    "git_ref": validate.git_ref,
    "git_url": validate.git_url,
    "go_version": validate.go_version,
    "version": validate.version,
    "git_hash": validate.git_hash,
    "release_cycle": validate.release_cycle,
    "tag": validate.image_tag,
    "goflags": validate.goflags,
    "npm_registry": validate.npm_registry,
    "ca_cert": validate.ca_cert,
    "go_netrc": validate.netrc,
    "step_timeout": validate.positive_seconds,
    "gotestsum_version": validate.tool_version,
    "staticcheck_version": validate.tool_version,
}


def _field(name: str, **kwargs: Any) -> Any:
    """A model field whose default and description come from the settings registry."""
    return Field(_reg.default(name), description=_reg.setting(name).doc, **kwargs)


def _go_env(name: str) -> Any:
    """A Go module variable: also read under its plain name, so a developer's GOPROXY passes through."""
    return _field(name.lower(), validation_alias=AliasChoices(name.lower(), ENV_PREFIX + name, name))


class SettingsError(ValueError):
    """A user mistake in the settings: one line, no traceback, no secret.

    The value is shown through :func:`pipeline.core.validate.shown` (secret settings as
    ``<secret>``, URL credentials as ``***``, bounded) and the whole message through
    :func:`pipeline.core.validate.one_line`, so no caller can forget either.
    """

    def __init__(self, setting: str, value: Any, problem: str):
        problem = validate.one_line(problem)
        self.setting, self.value, self.problem = setting, value, problem
        super().__init__(validate.one_line(f"invalid setting {setting}={validate.shown(setting, value)}: {problem}"))


class Settings(BaseSettings):
    """Everything the pipeline can be told. Field docs are user documentation."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        extra="ignore",
        populate_by_name=True,
        validate_default=True,
        frozen=True,
        enable_decoding=False,  # platforms from env/.env: the flag's comma list (JSON too, see _split_platforms)
    )

    # --- source -----------------------------------------------------------
    source: Path | None = _field("source")
    git_url: str = _field("git_url")
    git_ref: str = _field("git_ref")

    # --- images -----------------------------------------------------------
    go_version: str | None = _field("go_version")
    go_image: str | None = _field("go_image")
    node_image: str = _field("node_image")
    python_image: str = _field("python_image")
    runtime_image: str = _field("runtime_image")

    # --- Go module access -------------------------------------------------
    goproxy: str | None = _go_env("GOPROXY")
    gosumdb: str | None = _go_env("GOSUMDB")
    goprivate: str | None = _go_env("GOPRIVATE")
    gonosumdb: str | None = _go_env("GONOSUMDB")
    gonoproxy: str | None = _go_env("GONOPROXY")
    allow_unsafe_go_modules: bool = _field("allow_unsafe_go_modules")
    goflags: str = _field("goflags")
    npm_registry: str | None = _field("npm_registry")
    ca_cert: Path | None = _field("ca_cert")
    go_netrc: Path | None = _field("go_netrc")

    # --- what gets stamped into the binaries -------------------------------
    version: str | None = _field("version")
    git_hash: str | None = _field("git_hash")
    release_cycle: str | None = _field("release_cycle")

    # --- outputs ----------------------------------------------------------
    platforms: list[str] = _field("platforms")
    registry: str | None = _field("registry")
    manager_image_name: str = _field("manager_image_name")
    worker_image_name: str = _field("worker_image_name")
    tag: str | None = _field("tag")
    sbom: bool = _field("sbom")
    step_timeout: int = _field("step_timeout")
    gotestsum_version: str = _field("gotestsum_version")
    staticcheck_version: str = _field("staticcheck_version")

    # ---------------------------------------------------------------------
    @field_validator("*", mode="before")
    @classmethod
    def _one_line_of_text(cls, v: Any, info: ValidationInfo) -> Any:
        """Every string value from every source (flag, env, .env, dagger call) passes validate.text first."""
        for item in v if isinstance(v, list | tuple) else [v]:
            if isinstance(item, str | Path):
                validate.text(str(item))
        if isinstance(v, str) and cls.model_fields[info.field_name].annotation is int:
            validate.whole_number(v.strip())  # int('3_0') == 30 and int('٣') == 3: not for settings
        return v

    @field_validator("platforms", mode="before")
    @classmethod
    def _split_platforms(cls, v: Any) -> Any:
        if isinstance(v, str):
            if v.lstrip().startswith("["):  # the JSON list pydantic-settings used to require
                import json

                try:
                    v = json.loads(v)
                except ValueError:
                    raise ValueError("is neither a comma-separated list nor a JSON list; use e.g. linux/amd64,linux/arm64") from None
                if not isinstance(v, list) or not all(isinstance(p, str) for p in v):
                    raise ValueError("must be a list of platform names, e.g. linux/amd64,linux/arm64")
                return v
            return [p.strip() for p in v.split(",") if p.strip()]
        return v

    @field_validator("platforms")
    @classmethod
    def _platforms(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("is empty; name at least one of " + ", ".join(validate.PLATFORMS))
        for p in v:
            validate.platform(p)
        if len(set(v)) != len(v):
            raise ValueError("lists a platform twice; name each once")
        return v

    @field_validator("goproxy", "gosumdb", "goprivate", "gonosumdb", "gonoproxy")
    @classmethod
    def _go_unset(cls, v: str | None) -> str | None:
        return v or None  # empty = unset: the Go toolchain's own default applies

    @model_validator(mode="after")
    def _go_module_vars(self) -> Settings:
        allow = self.allow_unsafe_go_modules
        checks = (
            ("goproxy", lambda v: validate.goproxy(v, allow_unsafe=allow)),
            ("gosumdb", lambda v: validate.gosumdb(v, allow_unsafe=allow)),
            ("goprivate", lambda v: validate.go_patterns(v, allow_unsafe=allow)),
            ("gonosumdb", lambda v: validate.go_patterns(v, allow_unsafe=allow)),
            ("gonoproxy", lambda v: validate.go_patterns(v, allow_unsafe=allow)),
        )
        for name, check in checks:
            if (value := getattr(self, name)) is not None:
                try:
                    check(value)
                except ValueError as e:
                    raise SettingsError(name, value, str(e)) from None
        return self

    @field_validator(*_SIMPLE_VALIDATORS)
    @classmethod
    def _simple(cls, v: Any, info: ValidationInfo) -> Any:
        return None if v is None else _SIMPLE_VALIDATORS[info.field_name](v)

    @field_validator("registry")
    @classmethod
    def _registry(cls, v: str | None) -> str | None:
        if v is None:
            return None
        v = v.rstrip("/")
        validate.image_ref(v + "/x")
        return v

    @field_validator("source")
    @classmethod
    def _source(cls, v: Path | None) -> Path | None:
        if v is None:
            return None
        if not v.is_dir():
            raise ValueError(f"'{v}' is not a directory; pass the root of a Flamenco checkout")
        from pipeline.core.source_facts import missing_flamenco_files

        if missing := missing_flamenco_files(v):
            raise ValueError(
                f"'{v}' is not a Flamenco source tree: missing {missing[0]}; pass the repository root"
            )
        return v

    @model_validator(mode="after")
    def _conflicts(self) -> Settings:
        if self.source is not None and self.git_ref != UPSTREAM_GIT_REF:
            raise SettingsError("git_ref", self.git_ref, "conflicts with source (a local directory); pass one of them")
        if self.source is not None and self.git_url != UPSTREAM_GIT_URL:
            raise SettingsError("git_url", self.git_url, "conflicts with source (a local directory); pass one of them")
        return self

    # --- derived values, resolved in one place ------------------------------
    def image_tag(self, version: str) -> str:
        return self.tag or version

    def image_name(self, kind: str, version: str) -> str:
        repo = self.manager_image_name if kind == "manager" else self.worker_image_name
        prefix = f"{self.registry}/" if self.registry else ""
        return f"{prefix}{repo}:{self.image_tag(version)}"

    def go_module_env(self) -> dict[str, str]:
        """Only what the user set: unset variables keep the Go toolchain defaults."""
        pairs = {
            "GOPROXY": self.goproxy,
            "GOSUMDB": self.gosumdb,
            "GOPRIVATE": self.goprivate,
            "GONOSUMDB": self.gonosumdb,
            "GONOPROXY": self.gonoproxy,
        }
        return {k: v for k, v in pairs.items() if v}


def _field_of(loc: tuple) -> str:
    return str(loc[0]) if loc else "settings"


def _dotenv_text(cls: type[Settings]) -> str | None:
    """The `.env` the model will read, checked to be UTF-8 text (else one line, not a traceback)."""
    env_file = cls.model_config.get("env_file")
    if cls is ArgSettings or not env_file or not Path(env_file).is_file():
        return None
    data = Path(env_file).read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SettingsError("env_file", str(env_file),
                            f"is not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}); save it as UTF-8") from None


#: FLAMENCO_PIPELINE_* variables that are not settings but our own CI's (docs/ci/flamenco-repo-workflow.yml).
WORKFLOW_VARIABLES = frozenset({ENV_PREFIX + "MODULE", ENV_PREFIX + "PACKAGE"})


def _known_env_names(cls: type[Settings]) -> set[str]:
    names = {ENV_PREFIX + n.upper() for n in cls.model_fields} | WORKFLOW_VARIABLES
    for f in cls.model_fields.values():
        if isinstance(f.validation_alias, AliasChoices):
            names |= {str(a).upper() for a in f.validation_alias.choices if str(a).upper().startswith(ENV_PREFIX)}
    return names


def misspelt_keys(cls: type[Settings], environ: dict[str, str], dotenv: str | None) -> list[str]:
    """One warning per FLAMENCO_PIPELINE_* key that names no setting, with the closest setting."""
    import difflib

    from dotenv import dotenv_values
    import io

    known = _known_env_names(cls)
    found = [(k, "the environment") for k in environ]
    if dotenv is not None:
        found += [(k, ".env") for k in dotenv_values(stream=io.StringIO(dotenv))]
    out = []
    for key, where in found:
        upper = key.upper()
        if upper.startswith(ENV_PREFIX) and upper not in known:
            close = difflib.get_close_matches(upper, sorted(known), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]}?" if close else "see `flamenco-pipeline build --help` for the settings"
            out.append(validate.one_line(f"{key} in {where} is not a setting and is ignored; {hint}", limit=300))
    return out


def load_settings(_cls: type[Settings] | None = None, **overrides: Any) -> Settings:
    """Build Settings from env/.env plus overrides (None means "not given").

    Warns (stderr, one line each) about FLAMENCO_PIPELINE_* keys that name no setting.
    """
    import os
    import sys

    from pydantic_settings.exceptions import SettingsError as SourceError

    cls = _cls or Settings
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        dotenv = _dotenv_text(cls)
        if cls is not ArgSettings:
            for warning in misspelt_keys(cls, dict(os.environ), dotenv):
                print(f"flamenco-pipeline: warning: {warning}", file=sys.stderr)
        return cls(**given)
    except SettingsError:
        raise
    except SourceError as e:  # a source could not parse a value at all
        raise SettingsError("settings", None, f"{e}; check the FLAMENCO_PIPELINE_* variables and .env") from None
    except OSError as e:
        raise SettingsError("env_file", str(cls.model_config.get("env_file")), f"cannot be read ({e.strerror})") from None
    except ValidationError as e:
        err = e.errors()[0]
        setting = _field_of(err.get("loc", ()))
        msg = str(err.get("msg", "invalid"))
        if (ctx := err.get("ctx")) and isinstance(ctx.get("error"), SettingsError):
            raise ctx["error"] from None
        msg = msg.removeprefix("Value error, ")
        more = len(e.errors()) - 1
        if more:
            msg += f" (and {more} more problem{'s' if more > 1 else ''})"
        raise SettingsError(setting, err.get("input"), msg) from None


class ArgSettings(Settings):
    """Settings from explicit arguments only (the Dagger lane: `dagger call` flags).

    Inside the engine there is no user environment or `.env` to read, and the
    module must not pick up the runtime container's own variables.
    """

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings):
        return (init_settings,)


def public_view(settings: Settings) -> dict[str, Any]:
    """Settings as they may appear in reports and repro files: no secrets, paths as strings."""
    data = settings.model_dump(mode="json")
    return {k: v for k, v in data.items() if v is not None}



# --- the model and the registry agree (checked at import) -----------------------------
def _kind(name: str, annotation: Any) -> str:
    if get_origin(annotation) is list:
        return "list"
    args = set(get_args(annotation)) or {annotation}
    if Path in args:
        return "dir" if HOST_OBJECTS.get(name) == "Directory" else "file"
    for typ, kind in ((bool, "bool"), (int, "int")):
        if typ in args:
            return kind
    return "str"


def _check_registry() -> None:
    fields = Settings.model_fields
    if set(fields) != {s.name for s in SETTINGS}:
        raise TypeError(f"Settings and pipeline.core.settings_registry disagree on {sorted(set(fields) ^ {s.name for s in SETTINGS})}")
    for s in SETTINGS:
        if (kind := _kind(s.name, fields[s.name].annotation)) != s.kind:
            raise TypeError(f"setting {s.name}: the registry says {s.kind}, the model's type is {kind}")


_check_registry()
