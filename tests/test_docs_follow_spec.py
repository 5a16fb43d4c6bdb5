"""README's tier table and docs/architecture.md's stage picture follow the stage spec."""

from __future__ import annotations

import re

from pipeline.core import spec
from pipeline.docker_lane.build import REPO_ROOT

STAGE_NAMES = {s.name for s in spec.STAGES}


def _tier_table() -> dict[str, set[str]]:
    text = (REPO_ROOT / "README.md").read_text()
    head = text.index("| tier | stages | copies from the source | cached in |")
    rows = {}
    for line in text[head:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = set(re.findall(r"`([a-z][a-z-]*)`", cells[1]))  # stage names, not `go build` etc.
    return rows


def test_readme_tier_table_lists_each_tier_s_stages():
    rows = _tier_table()
    for tier in spec.TIERS:
        expected = {s.name for s in spec.STAGES if s.tier == tier and s.name != "sbom-build"}
        assert rows.get(tier) == expected, (tier, rows.get(tier), expected)


def test_architecture_picture_names_every_stage_and_the_images_path():
    text = (REPO_ROOT / "docs" / "architecture.md").read_text()
    picture = text.split("```", 2)[1]
    for st in spec.STAGES:
        if st.name != "sbom-build":
            assert re.search(rf"(?<![\w-]){re.escape(st.name)}(?![\w-])", picture), st.name
    assert "internal/appinfo/" not in picture and "build-tools ──>" not in picture, "the previous graph"
    for image, builder in (("worker", "go-build"), ("manager", "app")):
        path = " → ".join(s.name for s in spec.ancestry(builder))
        assert f"**{path} → {image}**" in text, image
    assert [p for p in spec.GO_SOURCES if p not in picture] == []
