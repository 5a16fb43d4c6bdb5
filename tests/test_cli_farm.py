"""`flamenco-pipeline dev` and `integration-test`: bad input stops before any engine starts."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from pipeline.core import spec
from pipeline.cli.app import main


@pytest.mark.parametrize("command", ["dev", "integration-test"])
@pytest.mark.parametrize("workers", ["0", "100", "-1", "three", str(spec.MAX_FARM_WORKERS + 1)])
def test_bad_workers_is_one_line_exit_2(command, workers, monkeypatch):
    monkeypatch.setattr("pipeline.cli.app.with_pipeline", lambda *a: pytest.fail("an engine was started"))
    r = CliRunner().invoke(main, [command, "--workers", workers])
    assert r.exit_code == 2
    lines = r.output.strip().splitlines()
    assert lines == [f"flamenco-pipeline: error: invalid option --workers={workers}: must be a whole number "
                     f"between 1 and {spec.MAX_FARM_WORKERS}"]


@pytest.mark.parametrize("port", ["0", "65536", "http"])
def test_bad_port_is_one_line_exit_2(port, monkeypatch):
    monkeypatch.setattr("pipeline.cli.app.with_pipeline", lambda *a: pytest.fail("an engine was started"))
    r = CliRunner().invoke(main, ["dev", "--port", port])
    assert r.exit_code == 2
    assert r.output.strip().splitlines() == [
        f"flamenco-pipeline: error: invalid option --port={port}: must be a TCP port number between 1 and 65535"]


def test_dev_forwards_the_host_port_to_the_managers_port(monkeypatch):
    """The action `dev` hands to the engine session: dev(N).up(ports=[host -> 8080])."""
    seen = {}

    class FakeService:
        async def up(self, ports):
            seen["ports"] = [(p.frontend, p.backend) for p in ports]

    class FakePipe:
        def dev(self, workers, worker_blender=False):
            seen["workers"] = workers
            seen["blender"] = worker_blender
            return FakeService()

    def fake_with_pipeline(settings, action):
        import anyio

        return anyio.run(action, FakePipe())

    monkeypatch.setattr("pipeline.cli.app.with_pipeline", fake_with_pipeline)
    r = CliRunner().invoke(main, ["dev", "--workers", "3", "--port", "18080"])
    assert r.exit_code == 0, r.output
    assert seen == {"workers": 3, "blender": False, "ports": [(18080, spec.MANAGER_PORT)]}

    assert "manager at http://localhost:18080/ with 3 worker(s)" in r.output
    r = CliRunner().invoke(main, ["dev", "--workers", "2", "--worker-blender"])
    assert r.exit_code == 0, r.output
    assert seen["blender"] is True and seen["workers"] == 2


def test_help_lists_the_farm_commands_with_the_spec_bounds():
    r = CliRunner().invoke(main, ["--help"])
    assert "dev" in r.output and "integration-test" in r.output
    for command in ("dev", "integration-test"):
        help_text = CliRunner().invoke(main, [command, "--help"]).output
        assert f"(1-{spec.MAX_FARM_WORKERS})" in help_text
    assert f"[default: {spec.MANAGER_PORT}]" in CliRunner().invoke(main, ["dev", "--help"]).output
