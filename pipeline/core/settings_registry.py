"""The list of settings: one entry per setting, read by every front end.

`flamenco-pipeline` builds its flags from it, `FlamencoPipeline.create` takes one
argument per entry (same name, checked when pipeline.dagger_lane.main is imported), the
settings model (pipeline.core.settings) takes each field's default and description from
it and checks its types against `kind`, and the env variable is
FLAMENCO_PIPELINE_<NAME>. Plain data: no pydantic, click or dagger, so `--help`
stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.core.spec import (
    GOTESTSUM_VERSION, NODE_IMAGE, PYTHON_IMAGE, RUNTIME_IMAGE, STATICCHECK_VERSION, UPSTREAM_GIT_REF,
    UPSTREAM_GIT_URL,
)

ENV_PREFIX = "FLAMENCO_PIPELINE_"

# Three settings are host paths; the CLI hands the module a Dagger object in their place.
HOST_OBJECTS = {"source": "Directory", "ca_cert": "File", "go_netrc": "Secret"}


@dataclass(frozen=True)
class SettingInfo:
    """One setting as every front end sees it."""

    name: str
    group: str  # source | go modules | images | output (help and docs)
    kind: str  # dir | file | bool | int | list | str
    default: Any
    doc: str

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()


def _go_var(name: str) -> SettingInfo:
    return SettingInfo(name.lower(), "go modules", "str", None,
                       f"{name} for the Go stages; unset = the Go toolchain's own default.")


SETTINGS: tuple[SettingInfo, ...] = (
    # --- source and what gets stamped into the binaries
    SettingInfo("source", "source", "dir", None, "Local Flamenco checkout to build (default: upstream git)."),
    SettingInfo("git_url", "source", "str", UPSTREAM_GIT_URL, "Git URL used when no local source is given."),
    SettingInfo("git_ref", "source", "str", UPSTREAM_GIT_REF, "Tag, branch or commit of git_url to build."),
    SettingInfo("version", "source", "str", None, "Flamenco version; default: the source's Makefile VERSION."),
    SettingInfo("git_hash", "source", "str", None, "Git hash; default: source .git, then CI env vars."),
    SettingInfo("release_cycle", "source", "str", None, "alpha|beta|rc|release; default: Makefile RELEASE_CYCLE."),
    # --- images and tools
    SettingInfo("go_version", "images", "str", None, "Go version; default: read from the source's go.mod."),
    SettingInfo("go_image", "images", "str", None, "Go builder image; default golang:<go.mod version>-bookworm."),
    SettingInfo("node_image", "images", "str", NODE_IMAGE, "Node image for the web app (Flamenco docs: Node 22)."),
    SettingInfo("python_image", "images", "str", PYTHON_IMAGE, "Python image that packs the Blender add-on."),
    SettingInfo("runtime_image", "images", "str", RUNTIME_IMAGE, "Base of the manager and worker runtime images."),
    SettingInfo("gotestsum_version", "images", "str", GOTESTSUM_VERSION, "gotestsum version for JUnit reports."),
    SettingInfo("staticcheck_version", "images", "str", STATICCHECK_VERSION, "staticcheck version for `check`."),
    # --- Go module access
    *(_go_var(v) for v in ("GOPROXY", "GOSUMDB", "GOPRIVATE", "GONOSUMDB", "GONOPROXY")),
    SettingInfo("allow_unsafe_go_modules", "go modules", "bool", False,
                "Opt in to GOPROXY=direct/off, GOSUMDB=off or GOPRIVATE=*."),
    SettingInfo("goflags", "go modules", "str", "-mod=readonly", "GOFLAGS for every Go step."),
    SettingInfo("npm_registry", "go modules", "str", None,
                "npm registry (your mirror) for yarn install; unset = yarn's own default. Lockfile URLs "
                "on yarn's default registry are fetched from it."),
    SettingInfo("ca_cert", "go modules", "file", None, "Extra PEM CA bundle to trust (corporate TLS proxy)."),
    SettingInfo("go_netrc", "go modules", "file", None,
                "netrc file for private Go modules; passed as a secret, never stored or logged."),
    # --- outputs
    SettingInfo("platforms", "output", "list", ("linux/amd64",), "Target platforms, e.g. linux/amd64,linux/arm64."),
    SettingInfo("registry", "output", "str", None, "Registry/namespace to publish to, e.g. registry.example/flamenco."),
    SettingInfo("manager_image_name", "output", "str", "flamenco-manager", "Repository name of the manager image."),
    SettingInfo("worker_image_name", "output", "str", "flamenco-worker", "Repository name of the worker image."),
    SettingInfo("tag", "output", "str", None, "Image tag; default: the Flamenco version."),
    SettingInfo("sbom", "output", "bool", False, "Also write a CycloneDX SBOM of each image next to the images."),
    SettingInfo("step_timeout", "output", "int", 900, "Seconds any single step may take before it is stopped."),
)
GROUPS = ("source", "go modules", "images", "output")

_BY_NAME = {s.name: s for s in SETTINGS}


#: The settings given as `--name VALUE` on both command lines, as (name, kind, doc); the CLI
#: maps each kind to its click type, repro translates between `dagger call` and the CLI with them.
SETTING_FLAGS = tuple((s.name, s.kind, s.doc) for s in SETTINGS if s.kind != "bool")
#: The boolean settings: bare flags (`--sbom`) on both command lines.
BOOL_SETTINGS = tuple(s for s in SETTINGS if s.kind == "bool")


def setting(name: str) -> SettingInfo:
    """The entry of one setting (KeyError for an unknown name)."""
    return _BY_NAME[name]


def default(name: str) -> Any:
    """A setting's default, as a fresh value (lists are copied)."""
    d = setting(name).default
    return list(d) if isinstance(d, tuple) else d
