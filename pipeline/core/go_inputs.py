"""What a Go tree's build reads, checked against what the Go stages copy.

The Go stages copy only :data:`pipeline.core.spec.GO_SOURCES` (plus go.mod/go.sum in
go-deps and :data:`pipeline.core.spec.GO_CHECK_ONLY` in check), so a file the build
reads outside those paths would silently be missing from the build. This module
reads a source tree the way the go command does (every ``*.go`` file, every
``//go:embed`` pattern resolved against its package directory) and lists what
the copied set misses:

    python -m pipeline.core.go_inputs /path/to/flamenco     # exit 1 and the files, if any are missed

Standard library only; no engine, nothing executed from the tree.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pipeline.core import spec

EMBED_RE = re.compile(r"^\s*//go:embed\s+(.+?)\s*$")
SKIP_DIRS = {".git", "node_modules", "vendor", "testdata"}  # go ignores testdata for packages; embeds may not


@dataclass(frozen=True)
class Embed:
    file: str  # the .go file, relative to the root
    pattern: str  # as written after //go:embed
    matches: tuple[str, ...]  # files it embeds, relative to the root


def go_files(root: Path) -> list[str]:
    """Every .go file the go command could compile (outside node_modules/.git)."""
    out = []
    for p in sorted(root.rglob("*.go")):
        rel = p.relative_to(root)
        if not any(part in (".git", "node_modules") for part in rel.parts[:-1]):
            out.append(rel.as_posix())
    return out


def _patterns(line: str) -> list[str]:
    try:
        return shlex.split(line.replace("`", '"'))
    except ValueError:
        return line.split()


def _expand(pkg: Path, pattern: str, root: Path) -> tuple[str, ...]:
    """Files a //go:embed pattern names (directories recursively; `all:` keeps dot files)."""
    keep_hidden = pattern.startswith("all:")
    pattern = pattern.removeprefix("all:")
    hits = [p for p in sorted(pkg.glob(pattern))] if any(c in pattern for c in "*?[") else [pkg / pattern]
    files: list[str] = []
    for hit in hits:
        if hit.is_dir():
            for f in sorted(hit.rglob("*")):
                rel = f.relative_to(hit)
                if f.is_file() and (keep_hidden or not any(part[0] in "._" for part in rel.parts)):
                    files.append(f.relative_to(root).as_posix())
        elif hit.is_file():
            files.append(hit.relative_to(root).as_posix())
    return tuple(files)


def embeds(root: Path) -> list[Embed]:
    """Every //go:embed directive in the tree, resolved to the files it embeds."""
    found = []
    for rel in go_files(root):
        path = root / rel
        for line in path.read_text(errors="replace").splitlines():
            if m := EMBED_RE.match(line):
                for pat in _patterns(m.group(1)):
                    found.append(Embed(rel, pat, _expand(path.parent, pat, root)))
    return found


def copied(rel: str, copies: tuple[str, ...]) -> bool:
    """Whether a Copy of `copies` (spec syntax: 'dir/', 'a/*.go', 'file') brings `rel` along."""
    for c in copies:
        if c == ".":
            return True
        if c.endswith("/"):
            if rel.startswith(c):
                return True
        elif "*" in c.rpartition("/")[2]:
            parent, _, leaf = c.rpartition("/")
            p = PurePosixPath(rel)
            if str(p.parent) == (parent or ".") and fnmatch.fnmatchcase(p.name, leaf):
                return True
        elif rel == c:
            return True
    return False


def build_copies() -> tuple[str, ...]:
    """What the test stage sees: go-deps' manifests + GO_SOURCES."""
    return ("go.mod", "go.sum", *spec.GO_SOURCES)


def missing(root: Path) -> dict[str, list[str]]:
    """Files the build reads that the Go stages would not copy.

    ``go``: .go files outside GO_SOURCES and GO_CHECK_ONLY (gofmt and vet would
    not see them, a package would be incomplete); ``embedded``: files named by a
    //go:embed line outside GO_SOURCES (the binary would embed something else)."""
    build = build_copies()
    every = build + spec.GO_CHECK_ONLY
    return {
        "go": [f for f in go_files(root) if not copied(f, every)],
        "embedded": sorted({f for e in embeds(root) for f in e.matches if not copied(f, build)}),
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not Path(args[0]).is_dir():
        print("usage: python -m pipeline.core.go_inputs SOURCE_DIR", file=sys.stderr)
        return 2
    root = Path(args[0])
    for e in embeds(root):
        print(f"{e.file}: //go:embed {e.pattern} -> {len(e.matches)} file(s)")
    miss = missing(root)
    for kind, files in miss.items():
        for f in files:
            print(f"NOT COPIED ({kind}): {f}")
    n = sum(map(len, miss.values()))
    print(f"go_inputs: {len(go_files(root))} .go files, {n} read by the build but not copied")
    return 1 if n else 0


if __name__ == "__main__":
    sys.exit(main())
