"""--help: one screen per command, only the settings that change its result, grouped, one example."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from pipeline.cli.app import main
from pipeline.cli.options import COMMAND_SETTINGS
from pipeline.core.settings_registry import SETTINGS

COMMANDS = ["plan", "render dockerfile", "build", "test", "check", "ci", "publish", "dev", "integration-test",
            "docker build", "repro", "summary", "report"]
FLAG_OF = {s.name: s.flag for s in SETTINGS}


def _help(command: str) -> str:
    r = CliRunner().invoke(main, [*command.split(), "--help"], terminal_width=100)
    assert r.exit_code == 0, r.output
    return r.output


def _shown_flags(text: str) -> set[str]:
    """Flags a help text names, with the brace rows (--{go,node}-image) expanded."""
    flags = set()
    for m in re.finditer(r"--([a-z-]*)\{([a-z,]+)\}([a-z-]*)", text):
        flags |= {f"--{m.group(1)}{part}{m.group(3)}" for part in m.group(2).split(",")}
    flags |= set(re.findall(r"(?<![\w{-])--[a-z][a-z-]*[a-z]", text))
    return flags


@pytest.mark.parametrize("command", COMMANDS)
def test_help_fits_one_screen_and_has_an_example(command):
    text = _help(command)
    lines = text.splitlines()
    assert len(lines) <= 40, f"{command} --help is {len(lines)} lines at 100 columns"
    i = next(i for i, ln in enumerate(lines) if ln.strip() == "Example:")
    assert "flamenco-pipeline " in lines[i + 1]


@pytest.mark.parametrize("command", sorted(COMMAND_SETTINGS))
def test_help_shows_exactly_the_settings_that_change_the_commands_result(command):
    text = _help(command)
    shown = {n for n, flag in FLAG_OF.items() if flag in _shown_flags(text)}
    assert shown == set(COMMAND_SETTINGS[command])


def test_meaningless_settings_are_hidden_but_still_accepted():
    assert "--sbom" not in _help("check") and "--tag" not in _help("test")
    assert "--platforms" not in _help("docker build") and "--registry" not in _help("build")
    r = CliRunner().invoke(main, ["plan", "--tag", "x", "--sbom"])  # repro files may carry any setting
    assert r.exit_code == 0, r.output


def test_settings_are_grouped_in_a_fixed_order():
    text = _help("build")
    heads = [ln for ln in text.splitlines() if ln and not ln.startswith(" ") and ln.endswith(":")]
    assert heads == ["Options:", "Source and stamp:", "Modules and TLS:", "Images and tools:", "Output:", "Example:"]


def test_workers_and_port_are_integers_and_exports_are_documented():
    assert re.search(r"--workers INTEGER\s", _help("dev")) and re.search(r"--port INTEGER\s", _help("dev"))
    assert re.search(r"--workers INTEGER\s", _help("integration-test"))
    for command in ("build", "test", "ci", "integration-test", "docker build"):
        row = next(ln for ln in _help(command).splitlines() if ln.strip().startswith("--export"))
        assert len(row.split(None, 2)) == 3, f"{command} --export has no help"


def test_version_means_the_program_at_the_top_and_the_stamp_on_commands():
    r = CliRunner().invoke(main, ["--version"])
    assert r.exit_code == 0 and re.search(r"\d+\.\d+", r.output)
    assert "this program's version" in _help("")
    row = next(ln for ln in _help("build").splitlines() if ln.strip().startswith("--version"))
    assert "Flamenco version to stamp" in row


def test_top_level_help_lists_every_engine_free_command():
    text = _help("")
    engine_free = next(ln for ln in text.splitlines() if "Engine-free:" in ln)
    for command in ("plan", "render dockerfile", "summary", "report", "repro --print"):
        assert command in engine_free
    listed = {ln.split()[0] for ln in text.split("Commands:")[1].splitlines() if ln.strip()}
    assert {"plan", "render", "summary", "report", "repro", "docker"} <= listed
