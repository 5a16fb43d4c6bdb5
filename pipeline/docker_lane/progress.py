"""Live progress of concurrent ``docker build --progress=plain`` runs, for a person.

BuildKit's plain progress is read line by line as the builds print it (see
:mod:`pipeline.docker_lane.buildkit_log` for the format) and shown in one of three ways:

* ``tty``: compact. Steps that ran scroll by once they finish (with their
  time); below them a status block is redrawn in place: elapsed time, steps
  done / cached / running, and each running step with its time and last line.
* ``plain``: one line per event, no cursor movement (CI logs): a step started,
  finished (its BuildKit time) or was a cache hit, plus a "still running" line
  every ``heartbeat`` seconds of silence.
* ``full``: every BuildKit line, prefixed with its target.

Concurrent builds share steps (BuildKit runs a shared step once and the other
builds wait for it), so every build prints them: a step is shown once, under
its BuildKit title. Nothing here changes what is built; it only reads lines.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from typing import TextIO

from pipeline.docker_lane.buildkit_log import _DONE, _LINE, _OUTPUT, _STEP_TITLE, Vertex, short_name

MODES = ("auto", "tty", "plain", "full")


def resolve_mode(mode: str, stream: TextIO) -> str:
    """``auto``: ``tty`` on a terminal (and TERM is not dumb), else ``plain``."""
    if mode != "auto":
        return mode
    import os

    isatty = getattr(stream, "isatty", lambda: False)()
    return "tty" if isatty and os.environ.get("TERM", "") != "dumb" and not os.environ.get("CI") else "plain"


@dataclass
class _Step:
    title: str
    name: str
    started: float  # progress clock when first seen
    last: str = ""  # last output line
    announced: bool = False  # plain mode: its "..." line was printed


@dataclass
class _Target:
    titles: dict[int, str] = field(default_factory=dict)
    block_start: bool = True


class LiveProgress:
    """Feed it lines (thread-safe); it writes the view to ``stream``."""

    def __init__(self, stream: TextIO, mode: str = "auto", *, heartbeat: float = 30.0, clock=time.monotonic,
                 width: int | None = None):
        self.stream, self.mode, self.clock = stream, resolve_mode(mode, stream), clock
        self.heartbeat = heartbeat
        self.t0 = clock()
        self.lock = threading.Lock()
        self.targets: dict[str, _Target] = {}
        self.running: dict[str, _Step] = {}  # title -> step, shared by all targets
        self.finished: set[str] = set()
        self.cached_keys: set[str] = set()
        self.done = self.cached = self.failed = 0
        self.last_print = self.t0
        self.drawn = 0  # lines of the tty status block currently on screen
        self.width = width or _term_width(stream)
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    # --- lifecycle ----------------------------------------------------------------
    def __enter__(self) -> LiveProgress:
        if self.mode in ("tty", "plain"):
            self._ticker = threading.Thread(target=self._tick, daemon=True)
            self._ticker.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._ticker:
            self._ticker.join(timeout=2)
        with self.lock:
            self._clear()
            self._emit(self.summary_line())

    def elapsed(self) -> float:
        return self.clock() - self.t0

    def summary_line(self) -> str:
        return (f"[{self.elapsed():6.1f}s] steps: {self.done} ran, {self.cached} cached"
                + (f", {self.failed} failed" if self.failed else ""))

    # --- input --------------------------------------------------------------------
    def line(self, target: str, raw: str) -> None:
        text = raw.rstrip("\r\n")
        with self.lock:
            if self.mode == "full":
                self._emit(f"{target} | {text}")
            self._parse(target, text)

    def _parse(self, target: str, text: str) -> None:
        t = self.targets.setdefault(target, _Target())
        m = _LINE.match(text)
        if not m:
            if not text.strip():
                t.block_start = True
            return
        num, rest = int(m.group(1)), m.group(2)
        title = t.titles.get(num)
        if title is None:
            t.titles[num] = rest
            t.block_start = False
            self._started(target, rest)
            return
        if t.block_start:
            t.block_start = False
            if rest == title:
                return
        if rest in ("CACHED", "CANCELED") or rest.startswith("ERROR") or _DONE.match(rest):
            self._finished(target, title, rest)
        elif (o := _OUTPUT.match(rest)) and (step := self.running.get(_key(target, title))):
            step.last = (o.group(2) or "").strip() or step.last

    # --- events -------------------------------------------------------------------
    def _started(self, target: str, title: str) -> None:
        if not _shown(title):
            return
        key = _key(target, title)
        if key in self.finished or key in self.running:
            return
        name = _name(title, target)
        self.running[key] = _Step(title, name, self.clock())

    def _finished(self, target: str, title: str, rest: str) -> None:
        if not _shown(title):
            return
        key = _key(target, title)
        if key in self.cached_keys and (d := _DONE.match(rest)) and d.group(1) and float(d.group(1)) > 0:
            # a cache hit in one build, because another build ran it: it ran
            self.cached_keys.discard(key)
            self.finished.discard(key)
            self.cached -= 1
        if key in self.finished:
            return
        self.finished.add(key)
        step = self.running.pop(key, None) or _Step(title, _name(title, target), self.clock())
        if rest == "CACHED":
            self.cached += 1
            self.cached_keys.add(key)
            what = "cached"
        elif rest == "CANCELED":
            what = "canceled"
        elif rest.startswith("ERROR"):
            self.failed += 1
            what = "FAILED"
        else:
            self.done += 1
            d = _DONE.match(rest)
            what = f"done {float(d.group(1)):.1f}s" if d and d.group(1) else "done"
        if what != "done 0.0s" and (self.mode == "plain" or (self.mode == "tty" and what != "cached")):
            self._clear()
            self._emit(f"[{self.elapsed():6.1f}s] {step.name}  {what}")
        self._draw()

    # --- output -------------------------------------------------------------------
    def _emit(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()
        self.last_print = self.clock()

    def _clear(self) -> None:
        if self.mode == "tty" and self.drawn:
            self.stream.write(f"\x1b[{self.drawn}F\x1b[J")
            self.drawn = 0

    def status_lines(self, limit: int = 4) -> list[str]:
        now = self.clock()
        head = (f"[{self.elapsed():6.1f}s] {self.done} ran · {self.cached} cached · {len(self.running)} running"
                + (f" · {self.failed} failed" if self.failed else ""))
        rows = [head]
        steps = sorted(self.running.values(), key=lambda s: s.started)
        for s in steps[:limit]:
            row = f"  {now - s.started:5.0f}s  {s.name}"
            if s.last:
                row += f"  │ {s.last}"
            rows.append(row)
        if len(steps) > limit:
            rows.append(f"  … and {len(steps) - limit} more")
        return [r if len(r) <= self.width else r[: self.width - 1] + "…" for r in rows]

    def _draw(self) -> None:
        if self.mode != "tty":
            return
        self._clear()
        rows = self.status_lines()
        self.stream.write("\n".join(rows) + "\n")
        self.stream.flush()
        self.drawn = len(rows)

    def _tick(self) -> None:
        while not self._stop.wait(0.5 if self.mode == "tty" else 1.0):
            with self.lock:
                if self.mode == "tty":
                    self._draw()
                    continue
                self._announce_long_steps()
                if self.running and self.clock() - self.last_print >= self.heartbeat:
                    now = self.clock()
                    steps = sorted(self.running.values(), key=lambda s: s.started)[:3]
                    self._emit(f"[{self.elapsed():6.1f}s] running: "
                               + ", ".join(f"{s.name} ({now - s.started:.0f}s)" for s in steps))


    def _announce_long_steps(self, after: float = 2.0) -> None:
        """Plain mode: a step still running after ``after`` seconds gets a line (cache hits never do)."""
        now = self.clock()
        for s in sorted(self.running.values(), key=lambda s: s.started):
            if not s.announced and now - s.started >= after:
                s.announced = True
                self._emit(f"[{self.elapsed():6.1f}s] {s.name} ...")


def _shown(title: str) -> bool:
    """Dockerfile steps and exports; not BuildKit's internal loads."""
    return bool(_STEP_TITLE.match(title)) or title.startswith("exporting ")


def _key(target: str, title: str) -> str:
    return title if _STEP_TITLE.match(title) else f"{target}: {title}"  # exports are per target


def _name(title: str, target: str) -> str:
    v = Vertex(0, title, 0)
    return short_name(v) if v.is_step else f"{target}: {_strip(title)}"


def _strip(title: str) -> str:
    return re.sub(r"\s+", " ", title)[:60]


def _term_width(stream: TextIO) -> int:
    """COLUMNS if set, else the terminal's width; 100 when neither says anything useful."""
    import shutil

    cols = shutil.get_terminal_size((100, 24)).columns
    return cols if cols >= 40 else 100


def failure_lines(failed: dict[str, str], log_paths: dict, *, ca_cert_given: bool = False) -> list[str]:
    """What went wrong, per failing step (at most 10 lines each): the step, the
    targets it stopped, its own error lines, the usual fix for a well-known
    cause and the log that holds the whole story.

    A build that only shared a step with the failing one has no error of its
    own: BuildKit cancels the shared step when the failing build ends, and that
    build's log names just the cancelled step's script. It is reported under
    the failure that stopped it."""
    from pipeline.docker_lane.buildkit_log import MAX_CAUSE_LINES, failure_cause, parse

    groups: dict[str, tuple] = {}  # failing step title -> (cause, [targets])
    orphans: dict[str, str | None] = {}  # target -> the spec step named in its final error
    for target, text in failed.items():
        log = parse(text)
        cause = failure_cause(log, ca_cert_given=ca_cert_given)
        if cause is None:
            orphans[target] = _named_step(log.error or _client_message(text))
            continue
        groups.setdefault(cause.title, (cause, []))[1].append(target)
    out: list[str] = []
    for n, (cause, targets) in enumerate(groups.values()):
        code = f" (exit code {cause.exit_code})" if cause.exit_code is not None else ""
        out.append(f"error: step {cause.step} failed{code}; stopped {', '.join(targets)}")
        out += [f"  {line}" for line in cause.lines[:MAX_CAUSE_LINES]]
        if cause.hint:
            out.append(f"  fix: {cause.hint}")
        if n == 0 and orphans:
            out.append("  also stopped: " + ", ".join(
                f"{t}" + (f" (its shared step '{step}' was cancelled)" if step else "") for t, step in orphans.items()))
        out.append(f"  log: {log_paths[targets[0]]}")
    if not groups:
        for target, step in orphans.items():
            last = _last_message(failed[target])
            out.append(f"error: {target} failed" + (f" in step '{step}'" if step else "") + (f": {last}" if last else ""))
            out.append(f"  log: {log_paths[target]}")
    return out


def _named_step(message: str) -> str | None:
    from pipeline.docker_lane.buildkit_log import _STEP_NAME

    m = _STEP_NAME.search(message)
    return m.group(1) if m else None


def _client_message(text: str) -> str:
    """What the client printed outside any ``#N`` block (its final error, when no epilogue)."""
    return "\n".join(ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#"))


def _last_message(text: str) -> str:
    """The client's last line, without a quoted script (``...]: exit code: 1`` -> ``exit code: 1``)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    if not lines:
        return ""
    last = lines[-1]
    if "]: " in last:
        last = last.rsplit("]: ", 1)[1]
    return last[:200]
