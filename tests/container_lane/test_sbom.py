"""The optional SBOM export: CycloneDX documents built from what is really in the images."""

from __future__ import annotations

import json

import pytest


@pytest.mark.timeout(900)
def test_sbom_lists_go_modules_and_debian_packages(lane, default_build, tmp_path):
    out = tmp_path / "sbom"
    r = lane.build("sbom", default_build.context, output=out, label="sbom")
    r.check()
    docs = {p.name: json.loads(p.read_text()) for p in out.glob("*.cdx.json")}
    assert set(docs) == {"flamenco-manager.cdx.json", "flamenco-worker.cdx.json"}
    for name, doc in docs.items():
        assert doc["bomFormat"] == "CycloneDX" and doc["specVersion"] == "1.5"
        purls = {c["purl"] for c in doc["components"]}
        assert "pkg:golang/github.com/google/uuid@v1.6.0" in purls, name  # the fixture's real dependency
        assert any(p.startswith("pkg:deb/debian/libc6@") for p in purls), name
        assert doc["metadata"]["component"]["properties"][0]["value"].startswith("go1.")
    worker = {c["name"] for c in docs["flamenco-worker.cdx.json"]["components"]}
    manager = {c["name"] for c in docs["flamenco-manager.cdx.json"]["components"]}
    assert "ffmpeg" in worker and "ffmpeg" not in manager
    # deterministic: the same inputs give the same serial number
    again = tmp_path / "sbom2"
    lane.build("sbom", default_build.context, output=again, label="sbom again").check()
    assert (again / "flamenco-worker.cdx.json").read_text() == (out / "flamenco-worker.cdx.json").read_text()
