"""Live progress and failure causes of the Docker lane, fed with real captured BuildKit logs.

The logs in tests/data were captured from `docker build --progress=plain` runs of
Dockerfile.dev on the fixture (redacted with scripts/redact_buildkit_log.py).
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from pipeline.docker_lane import buildkit_log
from pipeline.cli.app import PROGRESS_MODES
from pipeline.docker_lane.progress import MODES, LiveProgress, failure_lines, resolve_mode

DATA = Path(__file__).parent / "data"


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def _replay(mode: str, logs: dict[str, str], step: float = 0.01) -> str:
    out, clock = io.StringIO(), Clock()
    with LiveProgress(out, mode, clock=clock, width=100) as live:
        for target, text in logs.items():
            for line in text.splitlines(keepends=True):
                clock.t += step
                live.line(target, line)
    return out.getvalue()


def _concurrent() -> dict[str, str]:
    return {t: (DATA / f"buildkit-plain-concurrent-{t}.log").read_text() for t in ("manager", "worker", "binaries")}


def _ffmpeg_seconds(logs: dict[str, str]) -> float:
    """BuildKit's own DONE time of the worker image's FFmpeg install, in the worker build's log."""
    (v,) = [v for v in buildkit_log.parse(logs["worker"]).stage_steps("worker") if v.index == 3]
    assert "install ffmpeg" in buildkit_log.short_name(v) and v.seconds
    return v.seconds


def test_cli_offers_the_modes_the_view_knows():
    assert PROGRESS_MODES == MODES


def test_plain_mode_prints_each_shared_step_once_with_its_buildkit_time():
    logs = _concurrent()
    text = _replay("plain", logs)
    assert "\x1b[" not in text  # CI logs: no cursor movement
    finished = [ln for ln in text.splitlines() if re.search(r"  (done \d+\.\d+s|cached|FAILED|canceled)$", ln)]
    names = [ln.split("] ", 1)[1].rsplit("  ", 1)[0] for ln in finished if not ln.endswith("cached")]
    assert len(names) == len(set(names)), "a step shared by the builds was printed as run twice"
    # every step that took time in any of the builds is there, with BuildKit's own duration
    for target, log in logs.items():
        for v in buildkit_log.parse(log).steps:
            if v.seconds:
                assert f"{buildkit_log.short_name(v)}  done {v.seconds:.1f}s" in text
    assert f"worker 3/6 install ffmpeg  done {_ffmpeg_seconds(logs):.1f}s" in text
    assert "worker: exporting to image" in text  # exports are per target
    ran = sum(1 for ln in finished if " done " in ln)
    m = re.search(r"steps: (\d+) ran, (\d+) cached$", text.splitlines()[-1])
    assert m and ran <= int(m.group(1))


def test_plain_mode_names_steps_by_the_spec_not_by_their_script():
    text = _replay("plain", _concurrent())
    assert "go-mod 3/3 check module settings" in text and "go-build 1/1 go build binaries" in text
    assert "app 3/3 go build manager" in text
    assert "sh -c" not in text and "--mount" not in text


def test_tty_mode_redraws_a_status_block_and_scrolls_only_steps_that_ran():
    text = _replay("tty", _concurrent())
    assert "\x1b[" in text and "running" in text
    plain = re.sub(r"\x1b\[\d*[A-Z]", "", text)
    assert f"worker 3/6 install ffmpeg  done {_ffmpeg_seconds(_concurrent()):.1f}s" in plain
    assert "  cached" not in plain  # cache hits are counted, not listed
    assert re.search(r"\d+ ran · \d+ cached · \d+ running", plain)


def test_full_mode_passes_every_buildkit_line_through_with_its_target():
    logs = {"manager": (DATA / "buildkit-plain-concurrent-manager.log").read_text()}
    text = _replay("full", logs)
    for line in logs["manager"].splitlines():
        assert f"manager | {line}\n" in text


def test_status_block_shows_running_steps_with_their_time_and_last_line():
    out, clock = io.StringIO(), Clock()
    live = LiveProgress(out, "tty", clock=clock, width=120)
    title = (DATA / "buildkit-plain-concurrent-manager.log").read_text().split("\n")
    run = next(ln for ln in title if "[app 3/3] RUN" in ln)
    num = run.split()[0]
    live.line("manager", run)
    clock.t += 42
    live.line("manager", f"{num} 41.9 compiling flamenco-manager")
    rows = live.status_lines()
    assert rows[1].strip().startswith("42s  app 3/3 go build") and rows[1].endswith("│ compiling flamenco-manager")


def test_auto_is_plain_without_a_terminal(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    assert resolve_mode("auto", io.StringIO()) == "plain"

    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setenv("TERM", "xterm")
    assert resolve_mode("auto", Tty()) == "tty"
    monkeypatch.setenv("CI", "true")
    assert resolve_mode("auto", Tty()) == "plain"


# --- failure causes ---------------------------------------------------------------


def _tls_logs() -> dict[str, str]:
    return {t: (DATA / f"buildkit-plain-yarn-tls-{t}.log").read_text() for t in ("manager", "reports")}


def test_tls_failure_names_step_error_fix_and_log_and_the_target_that_only_shared_a_step():
    paths = {t: Path(f"dist/logs/{t}.log") for t in ("manager", "reports")}
    lines = failure_lines(_tls_logs(), paths)
    assert len(lines) <= 10
    text = "\n".join(lines)
    assert lines[0] == "error: step web-deps 3/3 yarn install failed (exit code 1); stopped manager"
    assert "self-signed certificate in certificate chain" in text
    assert "--ca-cert" in text
    assert "reports (its shared step 'compile mage and tools' was cancelled)" in text
    assert "log: dist/logs/manager.log" in text
    assert "sh -c" not in text and "timeout -k" not in text  # not the script


def test_tls_hint_changes_when_a_ca_bundle_was_given():
    cause = buildkit_log.failure_cause(buildkit_log.parse(_tls_logs()["manager"]), ca_cert_given=True)
    assert "does not cover" in cause.hint


def test_refused_go_module_setting_shows_the_steps_own_message():
    text = (DATA / "buildkit-plain-go-mod-refused.log").read_text()
    lines = failure_lines({"manager": text, "worker": text}, {"manager": "m.log", "worker": "w.log"})
    assert lines[0] == "error: step go-mod 3/3 check module settings failed (exit code 2); stopped manager, worker"
    assert any("GOPROXY='direct' bypasses the module proxy" in ln for ln in lines)
    assert any("--allow-unsafe-go-modules" in ln for ln in lines)
    assert len(lines) <= 10


@pytest.mark.parametrize("output, stage, expect", [
    (["go: github.com/x/y@v1.0.0: reading https://proxy.invalid/x/y/@v/v1.0.0.mod: 410 Gone",
      "flamenco-pipeline: go mod download failed (see above)"], "go-deps", "--goproxy (GOPROXY)"),
    (["go: github.com/x/y@v1.0.0: reading https://proxy.invalid/x/y/@v/v1.0.0.zip: 410 Gone",
      "flamenco-pipeline: fetching Go modules (go list -deps of the binaries) failed (see above)"], "go-build",
     "--goproxy (GOPROXY)"),
    (["flamenco-pipeline: fetching Go modules (go mod download) failed (see above)"], "go-deps", "--goproxy (GOPROXY)"),
    (["cmd/flamenco-manager/main.go:12:2: undefined: nope"], "app", None),
    (["flamenco-pipeline: step 'go build' took longer than 5s and was stopped"], "app", "--step-timeout"),
])
def test_well_known_causes(output, stage, expect):
    v = buildkit_log.Vertex(7, f"[{stage} 3/3] RUN [\"sh\", \"-c\", \"x\"]", 0, error="process did not complete: exit code: 1",
                            end_line=5, output=[(1.0, t) for t in ["noise line", *output]])
    cause = buildkit_log.failure_cause(buildkit_log.BuildLog([v]))
    assert cause.exit_code == 1
    assert cause.lines[-1] == output[-1] and "noise line" not in cause.lines
    assert (cause.hint is None) if expect is None else (expect in cause.hint)


def test_an_engine_failure_without_output_shows_buildkits_reason_not_the_script():
    """Captured here when the engine had lost its docker0 bridge: the step printed nothing."""
    text = (DATA / "buildkit-plain-engine-bridge-failure.log").read_text()
    lines = failure_lines({"manager": text}, {"manager": "m.log"})
    assert lines[0] == "error: step webapp 2/2 yarn build failed; stopped manager"
    assert lines[1].strip().startswith("failed to create endpoint") and "docker0" in lines[1]
    assert "Docker engine itself failed" in lines[2]
    assert "sh -c" not in "\n".join(lines)


def test_dagger_commands_pass_the_engines_progress_through():
    """The SDK drains a log_output without a file descriptor (or none) into a buffer: hidden.
    Ours is the process's stderr, which the SDK gives the Dagger CLI as is."""
    import sys

    from dagger.provisioning._session import _resolve_stderr

    from pipeline.cli.session import session_config

    cfg = session_config()
    assert cfg.log_output is sys.stderr
    assert _resolve_stderr(cfg.log_output) == (sys.stderr, None)
