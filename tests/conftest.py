"""Shared fixtures: the pipeline object built offline (no engine) against the real SDK."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import anyio
import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "flamenco-mini"
STAMP = {"version": "3.9-fixture1", "git_hash": "abcdef123", "release_cycle": "beta"}


ENGINE_PLATFORM = "linux/amd64"


def require_go() -> str:
    """The go command on PATH. Without one the test fails under CI=true (CI installs Go: .ci/run)
    and is skipped elsewhere (README: Developing)."""
    go = shutil.which("go")
    if go is None:
        if os.environ.get("CI", "").strip().lower() in ("true", "1"):
            pytest.fail("no Go toolchain on PATH (CI installs one: .ci/run)", pytrace=False)
        pytest.skip("no Go toolchain on PATH (see README: Developing)")
    return go


def make_pipeline(engine_platform: str = ENGINE_PLATFORM, **kwargs):
    """FlamencoPipeline.create with every fact given, so the only engine question left is
    `defaultPlatform`; its answer (the outermost boundary, no engine here) is `engine_platform`."""
    from unittest import mock

    import dagger
    from dagger import dag

    from pipeline.dagger_lane.main import FlamencoPipeline

    async def default_platform(self):
        return dagger.Platform(engine_platform)

    args = {"source": dag.directory(), "go_version": "1.26.2", **STAMP, **kwargs}
    with mock.patch.object(type(dag), "default_platform", default_platform):
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


def answer_platforms(monkeypatch, single_arch: dict[str, str] | None = None) -> None:
    """Answer `Container.platform()` as the engine does (the outermost boundary, no engine here):
    the requested platform, except for an image in `single_arch` (address -> its only platform),
    which `from` resolves to that platform (core/schema/container.go `from` at v0.21.8)."""
    import dagger

    from tests.querychain import calls

    async def platform(self):
        made = calls(self, "container")
        requested = (made[0].args.get("platform") if made else None) or ENGINE_PLATFORM
        froms = calls(self, "from")
        image = froms[-1].args["address"] if froms else None
        return dagger.Platform((single_arch or {}).get(image, str(requested)))

    monkeypatch.setattr(dagger.Container, "platform", platform)
