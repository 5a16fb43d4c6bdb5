"""The settings as click options: one flag per setting (from the registry), which of them each
command's --help shows and how (grouped, merged rows, short help), bounded integers, and
click's usage errors as our one line."""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path

import click

from pipeline.cli.common import TextPath, fail
from pipeline.core.settings_registry import BOOL_SETTINGS, SETTING_FLAGS, SETTINGS


# The click type of each setting kind (pipeline.core.settings_registry.SETTING_FLAGS).
_CLICK_TYPES = {
    "dir": TextPath(file_okay=False, path_type=Path),
    "file": TextPath(path_type=Path),
    "int": str,  # as text: the settings model checks the digits (click's int() takes '3_0' as 30)
    "list": str,  # comma-separated, split by the settings model
    "str": str,
}


# Every command accepts every setting (repro files and `repro --record` pass them all),
# but --help lists only those that change that command's result; the rest are hidden.
ALL_SETTINGS = frozenset(s.name for s in SETTINGS)
_GO_MODULES = frozenset(s.name for s in SETTINGS if s.group == "go modules") - {"npm_registry"}
_GO_BUILD = frozenset({"source", "git_url", "git_ref", "go_version", "go_image", "step_timeout"}) | _GO_MODULES
_FARM = ALL_SETTINGS - {"platforms", "registry", "tag", "manager_image_name", "worker_image_name", "sbom",
                        "gotestsum_version", "staticcheck_version"}  # one host-platform farm, never pushed
COMMAND_SETTINGS: dict[str, frozenset[str]] = {
    "plan": frozenset({"source", "go_version", "go_image", "node_image", "python_image", "runtime_image",
                       "goproxy", "gosumdb", "goprivate", "gonosumdb", "gonoproxy", "allow_unsafe_go_modules"}),
    "test": _GO_BUILD | {"gotestsum_version"},  # go test needs no stamp, web app or runtime image
    "check": _GO_BUILD | {"staticcheck_version"},
    "build": ALL_SETTINGS - {"registry"},  # publishes nothing
    "ci": ALL_SETTINGS - {"registry"},
    "publish": ALL_SETTINGS,
    "dev": _FARM,
    "integration-test": _FARM,
    "docker build": ALL_SETTINGS - {"platforms"},  # the Docker lane builds the engine's own platform
}


# Settings that share one help row (their flags differ only in one word).
_MERGED_ROWS = (
    (("git_url", "git_ref"), "--git-{url,ref}", "Upstream git URL and ref, used when no --source is given."),
    (("go_image", "node_image", "python_image", "runtime_image"), "--{go,node,python,runtime}-image",
     "Base images (defaults: see `plan`); pin with @sha256:..."),
    (("gotestsum_version", "staticcheck_version"), "--{gotestsum,staticcheck}-version",
     "Versions of the Go tools installed with go install."),
    (("goproxy", "gosumdb"), "--goproxy, --gosumdb",
     "Module proxy and checksum DB; unset: the Go toolchain's own."),
    (("goprivate", "gonosumdb", "gonoproxy"), "--go{private,nosumdb,noproxy}",
     "Private module paths (GOPRIVATE, GONOSUMDB, GONOPROXY)."),
    (("manager_image_name", "worker_image_name"), "--{manager,worker}-image-name",
     "Repository names of the two images."),
)


_GROUP_TITLES = {"source": "Source and stamp", "go modules": "Modules and TLS", "images": "Images and tools",
                 "output": "Output"}


class SettingsCommand(click.Command):
    """A command whose --help shows its own options, then its settings by group, then an example."""

    shown_settings: frozenset[str] = ALL_SETTINGS

    def format_options(self, ctx, formatter):
        setting_names = {s.name for s in SETTINGS}
        own = [r for p in self.get_params(ctx) if p.name not in setting_names and (r := p.get_help_record(ctx))]
        sections = [("Options", own)]
        params = {p.name: p for p in self.get_params(ctx) if p.name in self.shown_settings}
        for group in _GROUP_TITLES:
            names = [s.name for s in SETTINGS if s.group == group and s.name in params]
            rows, done = [], set()
            for name in names:
                if name in done:
                    continue
                merged = next((m for m in _MERGED_ROWS if name in m[0] and all(n in params for n in m[0])), None)
                if merged:
                    rows.append((merged[1], merged[2]))
                    done |= set(merged[0])
                elif rec := params[name].get_help_record(ctx):
                    rows.append(rec)
            if rows:
                sections.append((_GROUP_TITLES[group], rows))
        col = min(max((len(a) for _, rows in sections for a, _ in rows), default=0), 37)
        for title, rows in sections:
            with formatter.section(title):
                _write_rows(formatter, rows, col)

    def format_epilog(self, ctx, formatter):
        if self.epilog:
            formatter.write_paragraph()
            formatter.write_text("Example:")
            with formatter.indentation():
                for line in self.epilog.splitlines():
                    formatter.write(f"{' ' * formatter.current_indent}{line}\n")


def _write_rows(formatter, rows, col: int) -> None:
    """Two columns like click's, the first ``col`` wide (one width for all sections, so
    long flag names keep their help on the same line)."""
    from click.formatting import wrap_text

    indent = formatter.current_indent
    width = max(formatter.width - indent - col - 2, 20)
    for label, text in rows:
        lines = wrap_text(text, width).splitlines() or [""]
        if len(label) <= col:
            formatter.write(f"{'':>{indent}}{label:<{col}}  {lines[0]}\n")
        else:
            formatter.write(f"{'':>{indent}}{label}\n")
            lines = [lines[0], *lines[1:]] if lines[0] else lines[1:]
            formatter.write(f"{'':>{indent + col + 2}}{lines[0]}\n") if lines else None
        for more in lines[1:]:
            formatter.write(f"{'':>{indent + col + 2}}{more}\n")


class Bounded(click.ParamType):
    """An integer option with bounds; a bad value is one line and exit 2 (no usage dump)."""

    name = "integer"

    def __init__(self, low: int, high: int, what: str):
        self.low, self.high, self.what = low, high, what

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            n = value
        else:
            from pipeline.core.validate import integer_text

            n = integer_text(str(value).strip())  # ASCII digits: '²'.isdigit() is True, int('٣') is 3
        if n is None or not self.low <= n <= self.high:
            fail(f"invalid option --{param.name}={value}: must be {self.what} between {self.low} and {self.high}")
        return n


# Shorter help than the registry's docs (which the README and `dagger call` show in full).
_SHORT_HELP = {
    "source": "Local Flamenco checkout (default: upstream git).",
    "version": "Flamenco version to stamp; default: the Makefile's VERSION.",
    "git_hash": "Git hash to stamp; default: the source's .git, then CI vars.",
    "release_cycle": "alpha|beta|rc|release to stamp; default: Makefile.",
    "go_version": "Go version; default: the source's go.mod.",
    "ca_cert": "Extra PEM CA bundle to trust (TLS-intercepting proxy).",
    "go_netrc": "netrc for private Go modules (a secret, never stored).",
    "sbom": "Also write a CycloneDX SBOM of each image.",
    "step_timeout": "Seconds any one step may take before it is stopped.",
    "registry": "Registry/namespace to push to, e.g. registry.example/team.",
    "npm_registry": "npm registry mirror for yarn install; unset: yarn's own.",
}


def setting_options(fn):
    """Add one option per setting; values land in kwargs['settings_overrides']."""
    for name, kind, help_ in reversed(SETTING_FLAGS):
        help_ = _SHORT_HELP.get(name, help_)
        fn = click.option(f"--{name.replace('_', '-')}", name, type=_CLICK_TYPES[kind], default=None, help=help_)(fn)
    for s in reversed(BOOL_SETTINGS):
        fn = click.option(s.flag, s.name, is_flag=True, default=None, help=_SHORT_HELP.get(s.name, s.doc))(fn)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        overrides = {s.name: kwargs.pop(s.name) for s in SETTINGS}
        return fn(*args, settings_overrides=overrides, **kwargs)

    return wrapper


@contextlib.contextmanager
def one_line_usage_errors():
    """Click's usage errors (usage + hint + error, three lines) become our one line, exit 2."""
    try:
        yield
    except click.UsageError as e:
        if type(e).__name__ == "NoArgsIsHelpError":  # plain `flamenco-pipeline`: the help text
            raise
        where = f" (see `{e.ctx.command_path} --help`)" if e.ctx is not None else ""
        fail(e.format_message() + where)
