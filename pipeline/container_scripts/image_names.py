"""Give an OCI image tarball the name `publish` would push, so `docker load -i` tags it.

Dagger's `Container.asTarball` has no name argument (core/schema/container.go at v0.21.8) and
writes the archive with containerd's exporter without names, so `docker load` leaves bare IDs
(`RepoTags: null`). This rewrites the two places loaders read a name from:
- `manifest.json` (Docker's legacy format, read by `docker load` without the containerd
  store): `RepoTags` of the first entry, the primary platform;
- `index.json` (OCI): the annotations `io.containerd.image.name` (the name, read by
  containerd and Docker's containerd store) and `org.opencontainers.image.ref.name` (the tag).
Layers and blobs are copied byte for byte; digests do not change (neither file is a blob).

Standard library only: it runs inside the python image in the Dagger lane
(`python3 image_names.py IN.tar OUT.tar NAME:TAG`), and in tests.
"""

from __future__ import annotations

import io
import json
import sys
import tarfile

NAME_ANNOTATION = "io.containerd.image.name"
REF_ANNOTATION = "org.opencontainers.image.ref.name"


def tag_of(name: str) -> str:
    """The tag of `repo[:tag]` (`latest` when none; a registry port is not a tag)."""
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else "latest"


def named_index(index: dict, name: str) -> dict:
    out = dict(index)
    out["manifests"] = [
        {**m, "annotations": {**(m.get("annotations") or {}), NAME_ANNOTATION: name, REF_ANNOTATION: tag_of(name)}}
        for m in index.get("manifests", [])
    ]
    return out


def named_manifest(entries: list, name: str) -> list:
    return [{**e, "RepoTags": [name] if i == 0 else (e.get("RepoTags") or None)} for i, e in enumerate(entries)]


def rename(src: str, dst: str, name: str) -> None:
    """Copy the tarball `src` to `dst` with `name` in index.json and manifest.json."""
    rewrite = {"index.json": lambda d: named_index(d, name), "manifest.json": lambda d: named_manifest(d, name)}
    seen = set()
    with tarfile.open(src) as tin, tarfile.open(dst, "w") as tout:
        for member in tin:
            data = tin.extractfile(member) if member.isfile() else None
            key = member.name.lstrip("./")
            if key in rewrite and data is not None:
                body = json.dumps(rewrite[key](json.load(data)), separators=(",", ":")).encode()
                member.size = len(body)
                tout.addfile(member, io.BytesIO(body))
                seen.add(key)
            else:
                tout.addfile(member, data)
    if "index.json" not in seen and "manifest.json" not in seen:
        raise ValueError(f"{src} has neither index.json nor manifest.json: not an image tarball")


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: image_names.py IN.tar OUT.tar NAME:TAG", file=sys.stderr)
        return 2
    rename(*argv)
    print(f"flamenco-pipeline: {argv[1]} is named {argv[2]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
