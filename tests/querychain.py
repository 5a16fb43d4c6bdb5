"""Read the lazy query chain the real Dagger SDK builds (what it would send to the engine).

The one place tests touch SDK internals: `obj._ctx.selections` is the list of
GraphQL fields the SDK accumulated. Everything else asserts on the plain
structure returned here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Call:
    type: str
    name: str
    args: dict[str, Any]


def chain(obj: Any) -> list[Call]:
    """The calls, root first, that produce `obj` (a lazy Container, Directory, ...)."""
    return [Call(f.type_name, f.name, dict(f.args)) for f in obj._ctx.selections]


def calls(obj: Any, name: str) -> list[Call]:
    return [c for c in chain(obj) if c.name == name]


def env(obj: Any) -> dict[str, str]:
    """Effective env vars at the end of the chain (withEnvVariable / withoutEnvVariable)."""
    out: dict[str, str] = {}
    for c in chain(obj):
        if c.name == "withEnvVariable":
            out[c.args["name"]] = c.args["value"]
        elif c.name == "withoutEnvVariable":
            out.pop(c.args["name"], None)
    return out


def cache_key(volume: Any) -> str:
    (c,) = [c for c in chain(volume) if c.name == "cacheVolume"]
    return c.args["key"]


def execs(obj: Any) -> list[list[str]]:
    return [c.args["args"] for c in calls(obj, "withExec")]


def exec_env(obj: Any) -> list[tuple[list[str], dict[str, str], dict[str, str]]]:
    """For each exec: its argv, the env at that point and the mounts (path -> cache key / 'file')."""
    out = []
    e: dict[str, str] = {}
    mounts: dict[str, str] = {}
    for c in chain(obj):
        if c.name == "withEnvVariable":
            e[c.args["name"]] = c.args["value"]
        elif c.name == "withMountedCache":
            mounts[c.args["path"]] = cache_key(c.args["cache"])
        elif c.name == "withMountedFile":
            mounts[c.args["path"]] = "file"
        elif c.name == "withMountedSecret":
            mounts[c.args["path"]] = "secret"
        elif c.name == "withoutMount":
            mounts.pop(c.args["path"], None)
        elif c.name == "withExec":
            out.append((c.args["args"], dict(e), dict(mounts)))
    return out


def sources_copied(obj: Any) -> list[str]:
    """Paths copied from a host/source Directory into the container (withFile/withDirectory)."""
    paths = []
    for c in chain(obj):
        if c.name in ("withFile", "withDirectory"):
            src = c.args.get("source") or c.args.get("directory")
            sub = chain(src) if src is not None and hasattr(src, "_ctx") else []
            picked = [s.args.get("path") for s in sub if s.name in ("file", "directory") and s.type == "Directory"]
            whole = not picked and any(s.name in ("filter", "directory") for s in sub)
            paths.append(picked[-1] if picked else ("." if whole else c.args["path"]))
    return paths
