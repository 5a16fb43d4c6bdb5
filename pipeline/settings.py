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
from typing import Any

from pydantic import AliasChoices, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipeline import validate

ENV_PREFIX = "FLAMENCO_PIPELINE_"

# Defaults live in the engine-free stage spec (one source for both lanes and the
# committed Dockerfile's ARG defaults); re-exported here for the settings model.
from pipeline.spec import (  # noqa: E402
    GOTESTSUM_VERSION,
    NODE_IMAGE,
    PYTHON_IMAGE,
    RUNTIME_IMAGE,
    STATICCHECK_VERSION,
    UPSTREAM_GIT_REF,
    UPSTREAM_GIT_URL,
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
    "ca_cert": validate.ca_cert,
    "step_timeout": validate.positive_seconds,
}


def _go_env(name: str) -> Any:
    return Field(
        default=None,
        validation_alias=AliasChoices(name.lower(), ENV_PREFIX + name, name),
        description=f"{name} for the Go stages; unset = the Go toolchain's own default.",
    )


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
    source: Path | None = Field(None, description="Local Flamenco checkout to build (default: upstream git).")
    git_url: str = Field(UPSTREAM_GIT_URL, description="Git URL used when no local source is given.")
    git_ref: str = Field(UPSTREAM_GIT_REF, description="Tag, branch or commit of git_url to build.")

    # --- images -----------------------------------------------------------
    go_version: str | None = Field(None, description="Go version; default: read from the source's go.mod.")
    go_image: str | None = Field(None, description="Go builder image; default golang:<go.mod version>-bookworm.")
    node_image: str = Field(NODE_IMAGE, description="Node image for the web app (Flamenco docs: Node 22).")
    python_image: str = Field(PYTHON_IMAGE, description="Python image that packs the Blender add-on.")
    runtime_image: str = Field(RUNTIME_IMAGE, description="Base of the manager and worker runtime images.")

    # --- Go module access -------------------------------------------------
    goproxy: str | None = _go_env("GOPROXY")
    gosumdb: str | None = _go_env("GOSUMDB")
    goprivate: str | None = _go_env("GOPRIVATE")
    gonosumdb: str | None = _go_env("GONOSUMDB")
    gonoproxy: str | None = _go_env("GONOPROXY")
    allow_unsafe_go_modules: bool = Field(
        False, description="Opt in to GOPROXY=direct/off, GOSUMDB=off or GOPRIVATE=*."
    )
    goflags: str = Field("-mod=readonly", description="GOFLAGS for every Go step.")
    ca_cert: Path | None = Field(None, description="Extra PEM CA bundle to trust (corporate TLS proxy).")
    go_netrc: Path | None = Field(
        None, description="netrc file for private Go modules; passed as a secret, never stored or logged."
    )

    # --- what gets stamped into the binaries -------------------------------
    version: str | None = Field(None, description="Flamenco version; default: the source's Makefile VERSION.")
    git_hash: str | None = Field(None, description="Git hash; default: source .git, then CI env vars.")
    release_cycle: str | None = Field(None, description="alpha|beta|rc|release; default: Makefile RELEASE_CYCLE.")

    # --- outputs ----------------------------------------------------------
    platforms: list[str] = Field(["linux/amd64"], description="Target platforms, e.g. linux/amd64,linux/arm64.")
    registry: str | None = Field(None, description="Registry/namespace to publish to, e.g. registry.example/flamenco.")
    manager_image_name: str = Field("flamenco-manager", description="Repository name of the manager image.")
    worker_image_name: str = Field("flamenco-worker", description="Repository name of the worker image.")
    tag: str | None = Field(None, description="Image tag; default: the Flamenco version.")
    sbom: bool = Field(False, description="Also write a CycloneDX SBOM of each image next to the images.")
    step_timeout: int = Field(900, description="Seconds any single step may take before it is stopped.")
    gotestsum_version: str = Field(GOTESTSUM_VERSION, description="gotestsum version for JUnit reports.")
    staticcheck_version: str = Field(STATICCHECK_VERSION, description="staticcheck version for `check`.")

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
