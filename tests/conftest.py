"""Shared fixtures: the pipeline object built offline (no engine) against the real SDK."""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "flamenco-mini"
STAMP = {"version": "3.9-fixture1", "git_hash": "abcdef123", "release_cycle": "beta"}


def make_pipeline(**kwargs):
    """FlamencoPipeline.create with every fact given, so no engine call is needed."""
    from dagger import dag

    from pipeline.main import FlamencoPipeline

    args = {"source": dag.directory(), "go_version": "1.26.2", **STAMP, **kwargs}
    return anyio.run(lambda: FlamencoPipeline.create(**args))


@pytest.fixture
def pipeline():
    return make_pipeline()


@pytest.fixture(autouse=True)
def _no_user_go_env(monkeypatch):
    """Tests see the settings they set, not the developer's shell or a .env file."""
    for var in ("GOPROXY", "GOSUMDB", "GOPRIVATE", "GONOSUMDB", "GONOPROXY"):
        monkeypatch.delenv(var, raising=False)
    for var in list(os.environ):
        if var.startswith("FLAMENCO_PIPELINE_"):
            monkeypatch.delenv(var, raising=False)
