"""Every setting, from every source (flag, environment, .env), with arbitrary text.

Property (hypothesis): `flamenco-pipeline plan` exits 0 or 2, never with a traceback; an error
is exactly one line; a URL credential (a canary) is never echoed; and when the value is
accepted, the shell lines a record of the run prints (`repro --print`) split back with
`shlex.split` into exactly the argv that would run, with every comment a single line.
The real CLI through CliRunner, the real settings sources (os.environ, a .env file in
the working directory); nothing is replaced.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import tempfile
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings as hsettings, strategies as st

from pipeline.ci import repro_record, repro_rerun, repro_trust
from pipeline.cli.app import main
from pipeline.core.settings_registry import SETTING_FLAGS
from pipeline.core.settings import ENV_PREFIX, Settings, load_settings

CANARY = f"canary{uuid.uuid4().hex[:12]}"
FLAGS = {name for name, _, _ in SETTING_FLAGS}
SETTINGS = sorted(Settings.model_fields)
SOURCES = ("flag", "env", "dotenv")

# Arbitrary text, control characters included (no surrogates: not encodable in a .env file).
_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)
_nasty = st.sampled_from(["\n", "\r", "\x1b[2J", "\u202e", "\x00", "\t", "; touch pwned", "$(id)", "`id`",
                          "'", '"', " --help", "\u00b2", "3_0", "\u0663"])
_valueish = st.sampled_from(["https://example.com/x.git", "v3.8.5", "3.9", "1.26.2", "linux/amd64",
                             "debian:bookworm-slim", "-mod=readonly", "abcdef123", "900", "true", "https://p.example"])
_secret = st.builds(lambda pre, post: f"{pre}https://user:{CANARY}@host.example/x{post}", _text, _text)
VALUES = st.one_of(_text, _secret, st.builds(lambda a, n, b: a + n + b, _valueish, _nasty, st.one_of(_text, _valueish)))


def _dotenv_quote(value: str) -> str:
    """A python-dotenv double-quoted value that decodes back to `value`."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r") + '"'


def _is_bool(name: str) -> bool:
    return Settings.model_fields[name].annotation is bool


@contextlib.contextmanager
def _workdir():
    old = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="fp-prop-") as d:
        os.chdir(d)
        try:
            yield Path(d)
        finally:
            os.chdir(old)


def _run(name: str, source: str, value: str, cwd: Path):
    env = {k: None for k in os.environ if k.startswith(ENV_PREFIX)}
    args = ["plan"]
    if source == "flag":
        args += [f"--{name.replace('_', '-')}={value}"]
    elif source == "env":
        env[ENV_PREFIX + name.upper()] = value.replace("\x00", "")  # the OS cannot carry NUL in the environment
    else:
        (cwd / ".env").write_text(f"{ENV_PREFIX}{name.upper()}={_dotenv_quote(value)}\n", encoding="utf-8")
    return CliRunner().invoke(main, args, env=env)


def _assert_shell_lines_are_exact(settings) -> None:
    """What `repro --print` would show for a run with these settings: each shell line is one command."""
    rec = repro_record.record_for_cli("check", settings, export=None)
    t = repro_trust.trusted(rec)
    printed = repro_rerun.describe(t).split("\n")
    commands = [ln for ln in printed if not ln.startswith("#")]
    assert commands == [t.call.line(), t.cli_line()]
    assert shlex.split(commands[0]) == ["dagger", *t.call.argv()]
    env_words = [f"{k}={v}" for k, v in sorted(t.cli[1].items())]
    assert shlex.split(commands[1]) == [*env_words, "flamenco-pipeline", *t.cli[0]]


@hsettings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(SETTINGS), source=st.sampled_from(SOURCES), value=VALUES)
@example(name="git_url", source="flag", value="https://example.com/x.git\ntouch${IFS}pwned")
@example(name="platforms", source="env", value="linux/amd64,linux/arm64")
@example(name="platforms", source="dotenv", value="linux/arm64")
@example(name="goproxy", source="flag", value=f"https://user:{CANARY}@proxy.example")
@example(name="version", source="dotenv", value="3" * 100_000)
@example(name="step_timeout", source="env", value="3_0")
def test_any_text_in_any_setting_from_any_source_is_inert(name, source, value):
    if source == "flag" and (name not in FLAGS or _is_bool(name)):
        source = "env"  # settings without a text flag: the environment
    with _workdir() as cwd:
        r = _run(name, source, value, cwd)
        assert r.exit_code in (0, 2), (r.exit_code, r.output, r.exception)
        assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
        assert "Traceback" not in r.output
        if f":{CANARY}@" in value:  # a URL credential: never shown, whatever happened
            assert CANARY not in r.output
        if r.exit_code == 2:
            lines = r.stderr.splitlines()
            assert len(lines) == 1 and lines[0].startswith(
                ("flamenco-pipeline: error: invalid setting ", "flamenco-pipeline: error: Invalid value for '--")), lines
            assert r.stdout == ""
            return
        with pytest.MonkeyPatch.context() as mp:  # the same sources again, to look at what a record prints
            for k in [k for k in os.environ if k.startswith(ENV_PREFIX)]:
                mp.delenv(k)
            if source == "env":
                mp.setenv(ENV_PREFIX + name.upper(), value.replace("\x00", ""))
            settings = load_settings(**({name: value} if source == "flag" else {}))
        _assert_shell_lines_are_exact(settings)


def test_the_file_writers_redact_credentials_whatever_reaches_them(tmp_path):
    """Last line of defence: repro.json and build-report writers redact URL credentials in any string."""
    import json

    from pipeline.reports import docker_adapter as report_docker_adapter, files as report_files

    leaky = f"https://user:{CANARY}@host.example/x and https://{CANARY}@host.example/y"
    path = repro_record.write({"schema": repro_record.SCHEMA, "note": leaky, leaky: [leaky]}, tmp_path / "repro.json")
    report = report_docker_adapter.docker_lane_report([report_docker_adapter.TargetLog("app", "", started=0.0, seconds=1.0)], inspect=False)
    report["notes"] = [leaky]
    files = report_files.write_report_files(report, tmp_path / "out")
    for p in [path, *files.values()]:
        assert CANARY not in p.read_text(), p
    for p in (path, files["json"], files["markdown"]):
        assert "***@host.example" in p.read_text(), p
    assert json.loads(path.read_text())["note"].startswith("https://***@host.example/x")
