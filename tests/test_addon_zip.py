"""The add-on zip, packed by pipeline/container_scripts/addon_zip.py as Flamenco's magefiles/addonpacker.go packs it.

The packer runs as the addon stage runs it (`python3 - OUT VERSION < addon_zip.py`,
working directory the source root), on copies of the fixture and on small trees
that exercise each rule. The container lane runs the stage itself (test_docker_lane.py).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from pipeline.container_scripts import addon_zip
from pipeline.core import spec
from tests.conftest import FIXTURE

PACKER = Path(addon_zip.__file__)

# The fixture's add-on has a generated-docs dir and a dot-directory to skip; a
# __pycache__ is added in the copy (it is never committed).
FIXTURE_ENTRIES = ["flamenco/__init__.py", "flamenco/manager/__init__.py", "flamenco/manager_info.py"]


def run_packer(cwd: Path, out: Path, version: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-", str(out), version], stdin=PACKER.open(), cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def test_the_addon_stage_runs_this_packer_verbatim():
    (run,) = [s for s in spec.stage("addon").steps if isinstance(s, spec.Run)]
    assert run.script == spec.PACK_ADDON
    assert f"<<'PY'\n{PACKER.read_text().rstrip()}\nPY" in run.script
    assert spec.PACK_ADDON.count(f"python3 - {spec.ADDON_ZIP} ") == 1


def test_fixture_zip_has_flamencos_entries_and_comment(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(FIXTURE, src)
    (src / "addon/flamenco/__pycache__").mkdir()
    (src / "addon/flamenco/__pycache__/manager_info.cpython-313.pyc").write_bytes(b"\0")
    assert (src / "addon/flamenco/manager/docs").is_dir() and (src / "addon/flamenco/.mypy_cache").is_dir()
    out = tmp_path / "out" / "flamenco-addon.zip"
    proc = run_packer(src, out, "3.9-fixture1")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == (f"flamenco-pipeline: add-on zip {out}: 3 entries, comment "
                                   "'Flamenco add-on for Blender, version 3.9-fixture1'")
    with zipfile.ZipFile(out) as zf:
        assert zf.namelist() == FIXTURE_ENTRIES
        assert zf.comment == b"Flamenco add-on for Blender, version 3.9-fixture1"
        for info in zf.infolist():
            assert info.compress_type == zipfile.ZIP_DEFLATED and not info.is_dir()
            assert zf.read(info) == (src / "addon" / info.filename).read_bytes()


def test_walk_order_and_skip_rules(tmp_path):
    """filepath.WalkDir order (names sorted, directories entered where they sort); skips only dirs."""
    root = tmp_path / "addon"
    for rel in ["flamenco/z.py", "flamenco/a.py", "flamenco/b/x.py", "flamenco/b.py", "flamenco/.env-file",
                "flamenco/__pycache__/a.pyc", "flamenco/b/__pycache__/x.pyc", "flamenco/.mypy_cache/c.json",
                "flamenco/b/.hidden/y.py", "flamenco/manager/docs/Job.md", "flamenco/manager/docs.py",
                "flamenco/manager/api/docs/Kept.md", "flamenco/wheels/six-1.16.0-py2.py3-none-any.whl",
                "outside-flamenco.txt"]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(rel)
    assert addon_zip.entries(root) == [
        "flamenco/.env-file",  # a dot-file is packed: only dot-directories are skipped
        "flamenco/a.py",
        "flamenco/b/x.py",  # directory b sorts before file b.py, so its contents come first
        "flamenco/b.py",
        "flamenco/manager/api/docs/Kept.md",  # only flamenco/manager/docs itself is skipped
        "flamenco/manager/docs.py",
        "flamenco/wheels/six-1.16.0-py2.py3-none-any.whl",
        "flamenco/z.py",
    ]


def test_same_tree_same_bytes(tmp_path):
    a, b = tmp_path / "a.zip", tmp_path / "b.zip"
    addon_zip.pack(FIXTURE / "addon", a, "3.9")
    addon_zip.pack(FIXTURE / "addon", b, "3.9")
    assert a.read_bytes() == b.read_bytes()
    with zipfile.ZipFile(a) as zf:
        assert {i.date_time for i in zf.infolist()} == {addon_zip.DATE_TIME}


@pytest.mark.parametrize("args,message", [
    (["out.zip", " "], "usage: addon_zip.py OUT.zip VERSION [ADDON_DIR]"),
    (["out.zip", "3.9", "nowhere"], "flamenco-pipeline: nowhere/flamenco is not a directory; is this a Flamenco source tree?"),
])
def test_bad_use_is_one_line_exit_2(tmp_path, args, message):
    proc = subprocess.run([sys.executable, str(PACKER), *args], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.strip() == message
