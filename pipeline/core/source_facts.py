"""What the pipeline needs to know about a Flamenco source tree, read from its files.

Pure text parsing: the same functions serve a local checkout (the CLI, the Docker
lane) and file contents fetched from a Dagger Directory (the module).
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pipeline.core import validate

# A tree is "Flamenco-shaped" when these exist; the first missing one is named.
REQUIRED_FILES = ("go.mod", "go.sum", "web/app/package.json", "web/app/yarn.lock", "mage.go", "Makefile")

# CI systems' own variables for the commit being built, in lookup order.
CI_HASH_VARS = ("GITHUB_SHA", "CI_COMMIT_SHA", "BUILD_VCS_NUMBER", "GIT_COMMIT")
# The stamped hash. Flamenco's magefiles stamp `git rev-parse --short HEAD`: git
# picks the length from the repository's object count (at least 7, one more hex
# digit per 4x objects, longer if ambiguous), so it cannot be computed from HEAD
# alone. With a git binary and a .git directory we run exactly that command. Without
# one (a CI variable, .git files read without git, the Dagger lane's git ref) we
# abbreviate to this fixed length: what git picks for a repository of Flamenco's
# size (16 384 to 65 535 objects; 3.9-beta1's history has 23 995, HEAD cf286e71).
# Another repository may get another length from git: pass --git-hash to match make.
FALLBACK_HASH_LENGTH = 8


def missing_flamenco_files(root: Path) -> list[str]:
    return [f for f in REQUIRED_FILES if not (root / f).is_file()]


@dataclass(frozen=True)
class GoMod:
    module: str
    go: str
    toolchain: str | None

    @property
    def toolchain_version(self) -> str:
        """The Go version that builds this module: `toolchain` wins over `go`."""
        return self.toolchain or self.go

    @property
    def appinfo_package(self) -> str:
        return f"{self.module}/internal/appinfo"


def parse_go_mod(text: str) -> GoMod:
    module = re.search(r"^module\s+(\S+)", text, re.M)
    go = re.search(r"^go\s+(\S+)", text, re.M)
    tc = re.search(r"^toolchain\s+go(\S+)", text, re.M)
    if not module or not go:
        raise ValueError("go.mod has no 'module' or 'go' line; is this a Go module?")
    return GoMod(
        module=module.group(1),
        go=validate.go_version(go.group(1)),
        toolchain=validate.go_version(tc.group(1)) if tc else None,
    )


def parse_makefile_vars(text: str) -> dict[str, str]:
    """`VERSION := 3.9-beta1` and `RELEASE_CYCLE := beta`, as Flamenco's Makefile has them."""
    out = {}
    for name in ("VERSION", "RELEASE_CYCLE"):
        if m := re.search(rf"^{name}\s*:?=\s*(\S+)\s*$", text, re.M):
            out[name] = m.group(1)
    return out


def hash_from_ci_env(env: dict[str, str] | None = None) -> str | None:
    env = os.environ if env is None else env
    for var in CI_HASH_VARS:
        if value := env.get(var, "").strip():
            return value[:FALLBACK_HASH_LENGTH].lower()
    return None


def hash_from_git(root: Path) -> str | None:
    """`git rev-parse --short HEAD`, as Flamenco's magefiles run it (git picks the length)."""
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, timeout=10, check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


@dataclass(frozen=True)
class BuildStamp:
    """What `-ldflags -X` writes into internal/appinfo."""

    version: str
    git_hash: str
    release_cycle: str


class StampError(ValueError):
    pass


def resolve_stamp(
    makefile_text: str | None,
    *,
    version: str | None,
    git_hash: str | None,
    release_cycle: str | None,
    fallback_hash: str | None,
) -> BuildStamp:
    """Settings win, then the source's Makefile / .git / CI env. Never silently blank."""
    mk = parse_makefile_vars(makefile_text or "")
    v = version or mk.get("VERSION")
    h = git_hash or fallback_hash
    rc = release_cycle or mk.get("RELEASE_CYCLE")
    if not v:
        raise StampError("invalid setting version=None: the source's Makefile has no VERSION line; pass --version")
    if not h:
        raise StampError(
            "invalid setting git_hash=None: the source has no .git and no CI commit variable "
            f"({', '.join(CI_HASH_VARS)}) is set; pass --git-hash $(git rev-parse --short HEAD)"
        )
    if not rc:
        raise StampError("invalid setting release_cycle=None: the Makefile has no RELEASE_CYCLE; pass --release-cycle")
    return BuildStamp(validate.version(v), validate.git_hash(h), validate.release_cycle(rc))


def local_stamp(root: Path, *, version=None, git_hash=None, release_cycle=None) -> BuildStamp:
    """The stamp of a local checkout. Hash: the setting, else git's `--short` (as make),
    else .git files read without git or a CI variable (FALLBACK_HASH_LENGTH digits)."""
    mk = root / "Makefile"
    return resolve_stamp(
        mk.read_text() if mk.is_file() else None,
        version=version, git_hash=git_hash, release_cycle=release_cycle,
        fallback_hash=git_hash or hash_from_git(root) or hash_from_git_files(_file_reader(root)) or hash_from_ci_env(),
    )


def _file_reader(root: Path):
    def read(relpath: str) -> str | None:
        path = root / relpath
        try:
            return path.read_text() if path.is_file() else None
        except (OSError, UnicodeDecodeError):
            return None

    return read


def hash_from_git_files(read) -> str | None:
    """Resolve HEAD from `.git` file contents: `read(relpath) -> str | None`.

    Works on any file reader (a Dagger Directory, a tarball), no git binary needed.
    Abbreviated to FALLBACK_HASH_LENGTH: git's own `--short` length is unknown here.
    """
    head = (read(".git/HEAD") or "").strip()
    if not head:
        return None
    if not head.startswith("ref: "):
        return head[:FALLBACK_HASH_LENGTH]
    ref = head[5:].strip()
    if loose := (read(f".git/{ref}") or "").strip():
        return loose[:FALLBACK_HASH_LENGTH]
    for line in (read(".git/packed-refs") or "").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1] == ref:
            return parts[0][:FALLBACK_HASH_LENGTH]
    return None
