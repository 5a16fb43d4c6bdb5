"""A renamed image tarball loads into the real Docker engine with the name publish would use."""

from __future__ import annotations

import json
import subprocess
import tarfile

from pipeline.container_scripts import image_names
from pipeline.docker_lane.build import docker_binary, docker_env

TAG = "flamenco-pipeline-names:lane-test"


def docker(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([docker_binary(), *args], env=docker_env(), capture_output=True, text=True, **kw)


def test_docker_load_tags_the_renamed_tarball(tmp_path, engine):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "hello.txt").write_text("hello\n")
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY hello.txt /hello.txt\n")
    built = docker("build", "-q", str(ctx), timeout=300)
    assert built.returncode == 0, built.stderr
    image_id = built.stdout.strip()
    saved = tmp_path / "saved.tar"
    assert docker("save", "-o", str(saved), image_id, timeout=300).returncode == 0
    # Make it what asTarball gives: no names anywhere.
    bare = tmp_path / "bare.tar"
    with tarfile.open(saved) as tin, tarfile.open(bare, "w") as tout:
        for m in tin:
            if m.name == "repositories":
                continue
            data = tin.extractfile(m) if m.isfile() else None
            if m.name == "manifest.json":
                body = json.dumps([{**e, "RepoTags": None} for e in json.load(data)]).encode()
                import io

                m.size, data = len(body), io.BytesIO(body)
            tout.addfile(m, data)
    docker("rmi", "-f", TAG, timeout=60)
    loaded = docker("load", "-i", str(bare), timeout=300)
    assert loaded.returncode == 0 and "Loaded image ID" in loaded.stdout, loaded.stdout + loaded.stderr
    assert TAG not in loaded.stdout
    named = tmp_path / "named.tar"
    image_names.rename(str(bare), str(named), TAG)
    loaded = docker("load", "-i", str(named), timeout=300)
    try:
        assert loaded.returncode == 0 and f"Loaded image: {TAG}" in loaded.stdout, loaded.stdout + loaded.stderr
        inspect = docker("image", "inspect", TAG, "--format", "{{json .RepoTags}}", timeout=60)
        assert json.loads(inspect.stdout) == [TAG]
    finally:
        docker("rmi", "-f", TAG, image_id, timeout=60)
