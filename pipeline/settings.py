"""Pipeline settings: one pydantic-settings model, every default resolved here.

Sources, lowest to highest precedence: defaults < `.env` < environment
(`FLAMENCO_PIPELINE_*`; the Go module variables also under their plain names,
so a developer's own `GOPROXY` is passed through) < CLI flags / `dagger call`
arguments. Every value is validated by :mod:`pipeline.validate`; a bad value
becomes a :class:`SettingsError` whose message is one line naming the setting,
the value and the fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import AliasChoices, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipeline import validate

from pipeline import settings_registry as _reg
from pipeline.settings_registry import ENV_PREFIX, HOST_OBJECTS, SETTINGS, setting  # noqa: F401 (re-exported)

# Defaults live in the engine-free stage spec, read through the settings registry
# (one source for both lanes and the committed Dockerfile's ARG defaults).
from pipeline.spec import (  # noqa: E402, F401 (re-exported)
    GOTESTSUM_VERSION, NODE_IMAGE, PYTHON_IMAGE, RUNTIME_IMAGE, STATICCHECK_VERSION, UPSTREAM_GIT_REF, UPSTREAM_GIT_URL,
)


# Settings checked by one single-value validator each (pipeline.validate).
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
    "step_timeout": validate.positive_seconds,
}


def _field(name: str, **kwargs: Any) -> Any:
    """A model field whose default and description come from the settings registry."""
    return Field(_reg.default(name), description=_reg.setting(name).doc, **kwargs)


def _go_env(name: str) -> Any:
    """A Go module variable: also read under its plain name, so a developer's GOPROXY passes through."""
    return _field(name.lower(), validation_alias=AliasChoices(name.lower(), ENV_PREFIX + name, name))


class SettingsError(ValueError):
    """A user mistake in the settings: one line, no traceback."""

    def __init__(self, setting: str, value: Any, problem: str):
        # One line, whatever the user typed: control characters are shown escaped.
        problem = "".join(c if c.isprintable() else repr(c)[1:-1] for c in problem)
        self.setting, self.value, self.problem = setting, value, problem
        shown = "<secret>" if "password" in setting or "netrc" in setting else repr(value)
        super().__init__(f"invalid setting {setting}={shown}: {problem}")


class Settings(BaseSettings):
    """Everything the pipeline can be told. Field docs are user documentation."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        extra="ignore",
        populate_by_name=True,
        validate_default=True,
        frozen=True,
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
    @field_validator("platforms", mode="before")
    @classmethod
    def _split_platforms(cls, v: Any) -> Any:
        if isinstance(v, str):
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

    @field_validator("go_netrc")
    @classmethod
    def _netrc(cls, v: Path | None) -> Path | None:
        if v is not None and not v.is_file():
            raise ValueError(f"file '{v}' does not exist; pass the path of a netrc file (machine HOST login USER password TOKEN)")
        return v

    @field_validator("source")
    @classmethod
    def _source(cls, v: Path | None) -> Path | None:
        if v is None:
            return None
        if not v.is_dir():
            raise ValueError(f"'{v}' is not a directory; pass the root of a Flamenco checkout")
        from pipeline.source_facts import missing_flamenco_files

        if missing := missing_flamenco_files(v):
            raise ValueError(
                f"'{v}' is not a Flamenco source tree: missing {missing[0]}; pass the repository root"
            )
        return v

    @model_validator(mode="after")
    def _conflicts(self) -> Settings:
        if self.source is not None and self.git_ref != UPSTREAM_GIT_REF:
            raise SettingsError("git_ref", self.git_ref, "conflicts with source (a local directory); pass one of them")
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


def load_settings(_cls: type[Settings] | None = None, **overrides: Any) -> Settings:
    """Build Settings from env/.env plus overrides (None means "not given")."""
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return (_cls or Settings)(**given)
    except SettingsError:
        raise
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
        raise TypeError(f"Settings and pipeline.settings_registry disagree on {sorted(set(fields) ^ {s.name for s in SETTINGS})}")
    for s in SETTINGS:
        if (kind := _kind(s.name, fields[s.name].annotation)) != s.kind:
            raise TypeError(f"setting {s.name}: the registry says {s.kind}, the model's type is {kind}")


_check_registry()
