"""pipeline/container_scripts/image_names.py on an archive shaped like Dagger's asTarball output (offline)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile

import pytest

from pipeline.container_scripts import image_names


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def dagger_shaped(path, *, platforms=2) -> None:
    """What containerd's archive exporter writes without names: oci-layout, index.json whose
    one entry is the image index, blobs, and manifest.json entries with RepoTags null."""
    with tarfile.open(path, "w") as tar:
        _add(tar, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        _add(tar, "blobs/sha256/aa", b"layer bytes")
        index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                 "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json",
                                "digest": "sha256:bb", "size": 123}]}
        _add(tar, "index.json", json.dumps(index).encode())
        manifest = [{"Config": f"blobs/sha256/c{i}", "RepoTags": None, "Layers": ["blobs/sha256/aa"]}
                    for i in range(platforms)]
        _add(tar, "manifest.json", json.dumps(manifest).encode())


def members(path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}


def test_names_land_in_index_and_manifest_and_nothing_else_changes(tmp_path):
    src, dst = tmp_path / "in.tar", tmp_path / "out.tar"
    dagger_shaped(src)
    image_names.rename(str(src), str(dst), "registry.example:5000/team/flamenco-manager:3.9")
    before, after = members(src), members(dst)
    assert list(before) == list(after), "same members, same order"
    assert after["blobs/sha256/aa"] == before["blobs/sha256/aa"] and after["oci-layout"] == before["oci-layout"]
    (entry,) = json.loads(after["index.json"])["manifests"]
    assert entry["annotations"] == {"io.containerd.image.name": "registry.example:5000/team/flamenco-manager:3.9",
                                    "org.opencontainers.image.ref.name": "3.9"}
    assert entry["digest"] == "sha256:bb"
    tags = [e["RepoTags"] for e in json.loads(after["manifest.json"])]
    assert tags == [["registry.example:5000/team/flamenco-manager:3.9"], None], "the primary platform is named"


@pytest.mark.parametrize("name,tag", [("flamenco-worker:1.2", "1.2"), ("host:5000/x/flamenco-worker", "latest")])
def test_tag_of(name, tag):
    assert image_names.tag_of(name) == tag


def test_not_an_image_tarball_is_refused(tmp_path):
    src = tmp_path / "in.tar"
    with tarfile.open(src, "w") as tar:
        _add(tar, "hello.txt", b"hi")
    with pytest.raises(ValueError, match="neither index.json nor manifest.json"):
        image_names.rename(str(src), str(tmp_path / "out.tar"), "x:1")


def test_runs_as_the_script_the_dagger_lane_execs(tmp_path):
    src, dst = tmp_path / "in.tar", tmp_path / "out.tar"
    dagger_shaped(src, platforms=1)
    r = subprocess.run([sys.executable, image_names.__file__, str(src), str(dst), "flamenco-worker:3.9"],
                       capture_output=True, text=True, check=True)
    assert r.stdout.strip().endswith("is named flamenco-worker:3.9")
    assert json.loads(members(dst)["manifest.json"])[0]["RepoTags"] == ["flamenco-worker:3.9"]
