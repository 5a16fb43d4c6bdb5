"""pipeline.core.go_inputs: what a tree's Go build reads, against what the Go stages copy (spec.GO_SOURCES)."""

from __future__ import annotations

import shutil

from pipeline.core import go_inputs, spec
from tests.conftest import FIXTURE


def test_the_fixture_s_go_files_and_embeds_are_all_copied():
    found = {(e.file, e.pattern) for e in go_inputs.embeds(FIXTURE)}
    assert ("web/web_app.go", "static") in found and ("internal/persistence/persistence.go", "migrations/*.sql") in found
    sql = next(e for e in go_inputs.embeds(FIXTURE) if e.pattern == "migrations/*.sql")
    assert sql.matches and all(m.startswith("internal/persistence/migrations/") for m in sql.matches)
    assert go_inputs.missing(FIXTURE) == {"go": [], "embedded": []}
    assert go_inputs.main([str(FIXTURE)]) == 0


def test_a_file_embedded_or_compiled_outside_the_copied_set_is_reported(tmp_path):
    tree = tmp_path / "src"
    shutil.copytree(FIXTURE, tree, ignore=shutil.ignore_patterns("node_modules"))
    (tree / "assets").mkdir()
    (tree / "assets" / "logo.txt").write_text("x")
    (tree / "assets" / "assets.go").write_text('package assets\n\nimport "embed"\n\n//go:embed logo.txt\nvar F embed.FS\n')
    miss = go_inputs.missing(tree)
    assert miss == {"go": ["assets/assets.go"], "embedded": ["assets/logo.txt"]}
    assert go_inputs.main([str(tree)]) == 1


def test_copy_rules_match_the_lanes():
    """'dir/' is recursive, 'a/*.go' one directory deep, a plain path exactly itself."""
    assert go_inputs.copied("internal/x/y.go", ("internal/",))
    assert go_inputs.copied("web/web_app.go", ("web/*.go",)) and not go_inputs.copied("web/app/x.go", ("web/*.go",))
    assert not go_inputs.copied("web/static/index.html", spec.GO_SOURCES)
    assert go_inputs.copied("web/static/emptyfile", spec.GO_SOURCES)
    assert not go_inputs.copied("CHANGELOG.md", go_inputs.build_copies() + spec.GO_CHECK_ONLY)
    stage = spec.stage("go-source")
    assert [p for st in stage.steps for p in st.paths] == list(spec.GO_SOURCES)
