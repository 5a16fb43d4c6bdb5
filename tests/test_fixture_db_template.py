"""The fixture's stand-in database: the committed template is what make_template.py makes."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

from tests.conftest import FIXTURE

PERSISTENCE = FIXTURE / "internal" / "persistence"


def _dump(path) -> list[str]:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return list(con.iterdump())
    finally:
        con.close()


def test_committed_template_is_current(tmp_path):
    fresh = tmp_path / "fresh.sqlite"
    subprocess.run([sys.executable, str(PERSISTENCE / "make_template.py"), "--output", str(fresh)],
                   check=True, capture_output=True, text=True)
    assert _dump(PERSISTENCE / "flamenco-manager-template.sqlite") == _dump(fresh), (
        "flamenco-manager-template.sqlite is stale: run python3 internal/persistence/make_template.py in the fixture"
    )


def test_template_records_every_migration_like_goose():
    migrations = sorted(int(p.name.split("_")[0]) for p in (PERSISTENCE / "migrations").glob("*.sql"))
    con = sqlite3.connect(f"file:{PERSISTENCE / 'flamenco-manager-template.sqlite'}?mode=ro", uri=True)
    try:
        rows = [v for (v,) in con.execute("SELECT version_id FROM goose_db_version WHERE is_applied ORDER BY id")]
        tables = {n for (n,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        con.close()
    assert rows == [0, *migrations], "goose's initial version 0, then each migration once, in order"
    assert "workers" in tables
