"""Pack Flamenco's Blender add-on zip the way Flamenco's magefiles/addonpacker.go does.

Our own code (Python's zipfile, standard library only), following the packer's rules:

- walk `addon/flamenco` in `filepath.WalkDir` order: each directory's entries sorted
  by name, a directory's contents where its name sorts (files and directories mixed);
- skip directories named `__pycache__`, the directory `flamenco/manager/docs`
  (the generated API client's Markdown docs) and every directory whose name starts
  with a dot (`.mypy_cache`, ...); files are never skipped, dot-files included;
- one entry per file, named by its path relative to `addon/` with `/`; no directory
  entries; Deflate at the best compression level;
- the zip comment `Flamenco add-on for Blender, version <version>`.

One difference, on purpose: Flamenco's packer runs inside the mage binary, which is
compiled without the -X flags, so its comment reads "version set-during-build". We
write the version the binaries are stamped with.

Entries carry a fixed timestamp (1980-01-01; Go's zip.Writer.Create writes a zero date)
and MS-DOS as the creator system (as Go does), so the same tree always gives the same bytes.

Run as a script inside the addon stage (both lanes embed this file's text verbatim):
    python3 - OUT.zip VERSION [ADDON_DIR] < addon_zip.py
"""

from __future__ import annotations

import os
import sys
import zipfile
from pathlib import Path

ROOT = "flamenco"  # the package inside addon/ that the zip holds
SKIP_DIRS_AT = ("flamenco/manager/docs",)
SKIP_DIR_NAMES = ("__pycache__",)
COMMENT = "Flamenco add-on for Blender, version {version}"
DATE_TIME = (1980, 1, 1, 0, 0, 0)


def skipped_dir(relpath: str) -> bool:
    name = relpath.rsplit("/", 1)[-1]
    return name in SKIP_DIR_NAMES or relpath in SKIP_DIRS_AT or name.startswith(".")


def entries(addon_dir: Path) -> list[str]:
    """The zip's entry names, in order."""
    out: list[str] = []

    def walk(rel: str) -> None:
        with os.scandir(addon_dir / rel) as it:
            children = sorted(it, key=lambda e: e.name)
        for child in children:
            path = f"{rel}/{child.name}"
            if child.is_dir(follow_symlinks=False):  # WalkDir does not follow links either
                if not skipped_dir(path):
                    walk(path)
            else:
                out.append(path)

    walk(ROOT)
    return out


def pack(addon_dir: Path, out: Path, version: str) -> list[str]:
    """Write the zip; returns its entry names."""
    names = entries(addon_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w") as zf:
        for name in names:
            info = zipfile.ZipInfo(name, date_time=DATE_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 0
            zf.writestr(info, (addon_dir / name).read_bytes(), compresslevel=9)
        zf.comment = COMMENT.format(version=version).encode()
    return names


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3) or not argv[1].strip():
        print("usage: addon_zip.py OUT.zip VERSION [ADDON_DIR]", file=sys.stderr)
        return 2
    addon_dir = Path(argv[2] if len(argv) == 3 else "addon")
    if not (addon_dir / ROOT).is_dir():
        print(f"flamenco-pipeline: {addon_dir / ROOT} is not a directory; is this a Flamenco source tree?",
              file=sys.stderr)
        return 2
    names = pack(addon_dir, Path(argv[0]), argv[1])
    print(f"flamenco-pipeline: add-on zip {argv[0]}: {len(names)} entries, comment "
          f"{COMMENT.format(version=argv[1])!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
