"""BuildKit's ``--progress=plain`` output, parsed into steps (the one parser we have).

Docker 20.10's client prints, per vertex (``#N`` numbers its vertices), blocks
separated by a blank line::

    #16 [go-deps 3/3] RUN --mount=type=cache,... ["sh", "-c", "set -e\\n..."]   <- title
    #16 sha256:8087f3f1...                          <- vertex digest (20.10 prints it)
    #16 0.687 flamenco-pipeline: effective ...      <- output: seconds since the vertex started, text
    #16 transferring context: 77.44kB 0.0s done     <- status of a sub-task
    #16 ...                                         <- interrupted: another vertex prints now
    #16 DONE 1.1s | #16 CACHED | #16 ERROR: msg | #16 CANCELED

A vertex whose output is interleaved with others' is re-announced with its
title. After a failure the client prints an epilogue (``------`` / `` > title:``
/ ``------`` / the error) that repeats what was already said; it is read as
the final error only. Titles of ``RUN`` steps hold their whole script, so
anything emitted is taken only from the ``#N <seconds> <text>`` output lines.

Time: BuildKit stamps output lines relative to the vertex's own start and
prints ``DONE`` with the vertex's duration (rounded to 0.1 s), but plain output
carries no absolute time. What it does carry is *order*: every print round
writes the vertices that completed first, sorted by completion time, so the
order of the ``DONE``/``CACHED``/``ERROR`` lines is the order in which vertices
finished. :func:`timeline` turns durations, that order and the stage
dependencies into the earliest schedule consistent with all three (see its
docstring for what that means for accuracy). ``--progress=rawjson`` (absolute
timestamps) does not exist in Docker 20.10's client (``invalid value "rawjson"
passed to --progress``), so this is what the Docker lane can know.

Nothing here imports anything heavy: it is plain text processing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

_LINE = re.compile(r"^#(\d+) (.*)$")
_OUTPUT = re.compile(r"^(\d+\.\d+)(?: (.*))?$")
_DONE = re.compile(r"^DONE(?: (\d+(?:\.\d+)?)s)?$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_STEP_TITLE = re.compile(
    r"^\[(?:(?P<platform>[a-z0-9]+/[a-z0-9_]+(?:/[a-z0-9]+)?) )?(?P<stage>[^\s\]]+) (?P<index>\d+)/(?P<count>\d+)\] (?P<instruction>\S+)"
)
_INTERNAL_TITLE = re.compile(r"^\[(?P<stage>internal|auth)\] ")
_COPY_FROM = re.compile(r"--from=(\S+)")
EPILOGUE_RULE = "------"


@dataclass
class Vertex:
    """One BuildKit vertex (a Dockerfile step, an internal load, an export)."""

    id: int  # the #N of this log (numbers differ between builds)
    title: str
    first_line: int  # 0-based line number of the first appearance
    digest: str | None = None
    cached: bool = False
    seconds: float | None = None  # DONE duration; None when cached, failed or unfinished
    error: str | None = None
    canceled: bool = False
    end_line: int | None = None  # line of DONE/CACHED/ERROR/CANCELED; None if it never finished
    output: list[tuple[float, str]] = field(default_factory=list)  # (seconds since start, text)
    statuses: list[str] = field(default_factory=list)

    # --- the title, taken apart ---------------------------------------------------
    @property
    def _step(self) -> re.Match | None:
        return _STEP_TITLE.match(self.title)

    @property
    def stage(self) -> str | None:
        """Dockerfile stage (``go-deps``), ``internal``/``auth``, or None (exporters)."""
        if m := self._step:
            return m["stage"]
        if m := _INTERNAL_TITLE.match(self.title):
            return m["stage"]
        return None

    @property
    def index(self) -> int | None:
        return int(m["index"]) if (m := self._step) else None

    @property
    def count(self) -> int | None:
        return int(m["count"]) if (m := self._step) else None

    @property
    def platform(self) -> str | None:
        return m["platform"] if (m := self._step) else None

    @property
    def instruction(self) -> str | None:
        """``RUN``, ``COPY``, ``FROM``, ``WORKDIR``, ... for Dockerfile steps."""
        return m["instruction"].upper() if (m := self._step) else None

    @property
    def copy_from(self) -> str | None:
        """The stage or image of ``COPY --from=X``."""
        if self.instruction in ("COPY", "ADD"):
            head = self.title.split(" [", 2)
            if m := _COPY_FROM.search(" ".join(head[:2])):
                return m.group(1)
        return None

    @property
    def is_step(self) -> bool:
        return self._step is not None

    @property
    def is_export(self) -> bool:
        return self.title.startswith("exporting ")

    # --- what happened ---------------------------------------------------------------
    @property
    def status(self) -> str:
        if self.error is not None:
            return "error"
        if self.canceled:
            return "canceled"
        if self.cached:
            return "cached"
        if self.end_line is not None:
            return "done"
        return "running"

    @property
    def duration(self) -> float:
        """Seconds it ran: DONE's value, else the last output time (a lower bound), else 0."""
        if self.seconds is not None:
            return self.seconds
        if self.cached:
            return 0.0
        return max((t for t, _ in self.output), default=0.0)

    @property
    def text(self) -> str:
        """What the step printed, one line per output line (never its title)."""
        return "\n".join(t for _, t in self.output)

    def lines_after(self, marker: str) -> list[str]:
        """Output lines after the first line equal to ``marker`` (stripped)."""
        texts = [t for _, t in self.output]
        for i, t in enumerate(texts):
            if t.strip() == marker:
                return texts[i + 1 :]
        return []


@dataclass
class BuildLog:
    vertices: list[Vertex]  # in order of first appearance
    error: str | None = None  # the client's final error message (epilogue), if any
    failed_steps: list[str] = field(default_factory=list)  # titles named in the epilogue

    def by_id(self) -> dict[int, Vertex]:
        return {v.id: v for v in self.vertices}

    @property
    def steps(self) -> list[Vertex]:
        """Dockerfile steps only (``[stage i/n] ...``)."""
        return [v for v in self.vertices if v.is_step]

    def step(self, stage: str, index: int) -> Vertex | None:
        for v in self.vertices:
            if v.stage == stage and v.index == index:
                return v
        return None

    def stage_steps(self, stage: str) -> list[Vertex]:
        return sorted((v for v in self.vertices if v.is_step and v.stage == stage), key=lambda v: v.index or 0)

    def completion_order(self) -> list[Vertex]:
        """Vertices in the order they finished; unfinished ones last, by first appearance."""
        done = sorted((v for v in self.vertices if v.end_line is not None), key=lambda v: v.end_line)
        return done + [v for v in self.vertices if v.end_line is None]


def parse(text: str) -> BuildLog:
    """Parse the plain progress text of one ``docker build`` (stdout + stderr)."""
    vertices: dict[int, Vertex] = {}
    order: list[Vertex] = []
    lines = text.splitlines()
    block_start = True  # the next #N line opens a block: it is a title
    error_of: Vertex | None = None  # collecting a multi-line ERROR message
    epilogue_at: int | None = None

    for no, raw in enumerate(lines):
        line = raw.rstrip("\r")
        m = _LINE.match(line)
        if not m:
            if line.strip() == EPILOGUE_RULE:
                epilogue_at = no
                break
            if not line.strip():
                block_start, error_of = True, None
            elif error_of is not None:
                error_of.error = f"{error_of.error}\n{line}"
            continue
        error_of = None
        num, rest = int(m.group(1)), m.group(2)
        v = vertices.get(num)
        if v is None:  # first appearance: the title
            v = vertices[num] = Vertex(num, rest, no)
            order.append(v)
            block_start = False
            continue
        if block_start:
            block_start = False
            if rest == v.title:  # re-announced after another vertex printed
                continue
        if _DIGEST.match(rest):
            v.digest = v.digest or rest
        elif rest == "...":
            pass
        elif o := _OUTPUT.match(rest):
            v.output.append((float(o.group(1)), o.group(2) or ""))
        elif rest in ("CACHED", "CANCELED") or rest.startswith("ERROR") or _DONE.match(rest):
            _finish(v, rest, no)
            if v.error is not None and rest.startswith("ERROR"):
                error_of = v
        else:
            v.statuses.append(rest)

    log = BuildLog(order)
    if epilogue_at is not None:
        _read_epilogue(lines[epilogue_at:], log)
    else:
        tail = [ln for ln in lines if ln.strip() and not _LINE.match(ln)]
        if tail and any(v.error for v in order):
            log.error = "\n".join(tail[-20:])
    return log


def _finish(v: Vertex, rest: str, no: int) -> None:
    """DONE/CACHED/CANCELED/ERROR. A vertex re-printed after it finished (a late
    status update) keeps its first end line: that one is in completion order."""
    if rest == "CACHED":
        v.cached = True
    elif rest == "CANCELED":
        v.canceled = True
    elif rest.startswith("ERROR"):
        v.error = rest[len("ERROR"):].lstrip(":").strip()
    elif (d := _DONE.match(rest)) and d.group(1):
        v.seconds = float(d.group(1))
    if v.end_line is None:
        v.end_line = no


def _read_epilogue(lines: list[str], log: BuildLog) -> None:
    """``------`` / `` > title:`` / repeated output / ``------`` / final error message."""
    rules = [i for i, ln in enumerate(lines) if ln.strip() == EPILOGUE_RULE]
    for ln in lines:
        if ln.startswith(" > ") and ln.rstrip().endswith(":"):
            log.failed_steps.append(ln[3:].rstrip()[:-1])
    after = lines[rules[-1] + 1 :] if len(rules) >= 2 else lines[1:]
    message = "\n".join(ln for ln in after if ln.strip())
    log.error = message or None


# --------------------------------------------------------------------------- #
# the old helpers of the container lane, now on top of parse()


def parse_plain_progress(text: str) -> dict[str, dict]:
    """Step title -> ``{"cached": bool, "seconds": float | None}``.

    Only titled steps (``[stage n/m] ...`` and ``[internal] ...``) are kept;
    ``seconds`` is None for cached or unfinished (failed, cancelled) steps.
    Steps with the same title (several vertices) share one entry.
    """
    steps: dict[str, dict] = {}
    for v in parse(text).vertices:
        if not (v.is_step or v.stage in ("internal", "auth")):
            continue
        entry = steps.setdefault(v.title, {"cached": False, "seconds": None})
        entry["cached"] = entry["cached"] or v.cached
        if v.seconds is not None:
            entry["seconds"] = v.seconds
    return steps


def step_output(text: str) -> str:
    """Only what the steps printed (``#12 0.218 text`` -> ``text``), one per line.

    Unlike the whole progress text, this holds no step titles or echoed
    scripts, so a message found here was really emitted.
    """
    return "\n".join(v.text for v in parse(text).vertices if v.output)


# --------------------------------------------------------------------------- #
# time


@dataclass(frozen=True)
class Span:
    vertex: Vertex
    start: float  # seconds after the first vertex of this log started (see timeline())
    end: float
    after: int | None  # id of the dependency that ended last (the critical-path edge)
    waited: bool  # True when the completion order, not that dependency, fixed the start (a gap)


def dependencies(log: BuildLog, v: Vertex, parents: Mapping[str, str | None]) -> list[Vertex]:
    """What ``v`` waits for: the previous step of its stage, the parent stage's
    last step (first steps only), ``COPY --from`` stages, the build context."""
    deps: list[Vertex] = []
    if v.is_step:
        if v.index and v.index > 1:
            prev = log.step(v.stage, v.index - 1)
            if prev:
                deps.append(prev)
        elif parents.get(v.stage):
            deps += _last_step(log, parents[v.stage])
        if src := v.copy_from:
            deps += _last_step(log, src)
        elif v.instruction in ("COPY", "ADD"):
            deps += [c for c in log.vertices if c.title.startswith("[internal] load build context")]
        if v.instruction == "FROM":
            deps += [c for c in log.vertices if c.title.startswith("[internal] load metadata")]
    elif v.is_export:
        deps += [c for c in log.vertices if c.is_step]
    return [d for d in deps if d is not v]


def _last_step(log: BuildLog, stage: str) -> list[Vertex]:
    steps = log.stage_steps(stage)
    return steps[-1:] if steps else []


def timeline(
    log: BuildLog, parents: Mapping[str, str | None] | None = None, not_before: Mapping[int, float] | None = None
) -> dict[int, Span]:
    """The earliest schedule consistent with what the log says.

    Constraints used, vertex by vertex in completion order:

    * it ran for its ``DONE`` duration (cached: 0; failed or unfinished: its
      last output time, a lower bound);
    * it started after its dependencies ended (:func:`dependencies`; ``parents``
      maps stage -> parent stage, which the log itself does not say);
    * it ended no earlier than the vertex that finished before it (the order of
      ``DONE`` lines is the completion order);
    * it ended no earlier than ``not_before[id]``, when given: concurrent builds
      share work, and a step that another build ran shows up here as a cache hit
      that could only happen once that build had finished it.

    The result is a lower bound on every start and end: idle time that no
    constraint forces (a vertex that waited for something not in the log) is
    squeezed out and shows up as the difference between the reconstructed
    length and the measured wall time of the build. Errors per vertex: the
    0.05 s rounding of ``DONE`` accumulated along the chain, plus the order
    tolerance of one print round (BuildKit prints the completed vertex it was
    showing before the others of the same round).
    """
    parents = parents or {}
    not_before = not_before or {}
    spans: dict[int, Span] = {}
    clock = 0.0
    for v in log.completion_order():
        deps = [spans[d.id] for d in dependencies(log, v, parents) if d.id in spans]
        dep = max(deps, key=lambda s: s.end, default=None)
        dep_end = dep.end if dep else 0.0
        d = v.duration
        dep_end = max(dep_end, not_before.get(v.id, 0.0) - d)
        if v.end_line is None:  # never finished: do not let it move the clock backwards
            end = max(dep_end + d, clock)
            spans[v.id] = Span(v, end - d, end, dep.vertex.id if dep else None, False)
            continue
        waited = dep_end + d < clock - 1e-9
        end = clock if waited else dep_end + d
        spans[v.id] = Span(v, round(end - d, 3), round(end, 3), dep.vertex.id if dep else None, waited)
        clock = end
    return spans


def critical_path(spans: Mapping[int, Span]) -> list[Span]:
    """The dependency chain behind the vertex that ended last, first to last.

    Follows each vertex's last-ending dependency; where the completion order
    made a vertex start later than that (``waited``), the gap stays inside the path."""
    if not spans:
        return []
    cur = max(spans.values(), key=lambda s: (s.end, s.vertex.end_line or 0))
    path = [cur]
    seen = {cur.vertex.id}
    while cur.after is not None and cur.after in spans and cur.after not in seen:
        cur = spans[cur.after]
        seen.add(cur.vertex.id)
        path.append(cur)
    return list(reversed(path))


def stage_parents_from_dockerfile(text: str) -> dict[str, str | None]:
    """``FROM x AS name`` -> {name: x if x is an earlier stage else None}."""
    parents: dict[str, str | None] = {}
    for m in re.finditer(r"^FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", text, re.M | re.I):
        base, name = m.group(1), m.group(2)
        if name:
            parents[name] = base if base in parents else None
    return parents


def output_block(vertices: Iterable[Vertex], marker: str) -> list[str]:
    """Output lines after ``marker`` from the first vertex that printed it."""
    for v in vertices:
        if lines := v.lines_after(marker):
            return lines
    return []


# --------------------------------------------------------------------------- #
# names and causes (what a person reads live and after a failure)

_STEP_NAME = re.compile(r"step '([^']+)' took longer")  # the timeout wrapper names the spec step
_EXIT_CODE = re.compile(r"exit code: (\d+)\s*$")
_ERRORISH = re.compile(
    r"error|fail|fatal|panic|denied|refused|not found|no such|cannot|can't|unable|invalid|undefined|"
    r"certificate|x509|timed? ?out|took longer|^\S+\.go:\d+:\d+: |exit status",
    re.I,
)


def step_name(v: Vertex) -> str | None:
    """The spec's name of a RUN step (``go mod download``), read from its script."""
    m = _STEP_NAME.search(v.title)
    return m.group(1) if m else None


def short_name(v: Vertex, limit: int = 60) -> str:
    """``go-deps 3/3 go mod download``, ``app 2/5 COPY [., /src]``, ``exporting to image``."""
    if not v.is_step:
        return v.title if len(v.title) <= limit else v.title[: limit - 1] + "…"
    head = f"{v.stage} {v.index}/{v.count}"
    if v.platform:
        head = f"{head} ({v.platform})"
    if name := step_name(v):
        return f"{head} {name}"
    rest = re.sub(r"--mount=\S+\s*", "", v.title.split("] ", 1)[-1])
    rest = rest if len(rest) <= limit else rest[: limit - 1] + "…"
    return f"{head} {rest}"


@dataclass(frozen=True)
class Cause:
    """Why a build failed, in a few lines a person can act on."""

    step: str  # short_name of the failing step
    title: str  # its full BuildKit title (the key shared by concurrent builds)
    exit_code: int | None
    lines: tuple[str, ...]  # the step's own error output, at most MAX_CAUSE_LINES
    hint: str | None  # the usual fix for a well-known cause


MAX_CAUSE_LINES = 6


def failed_vertex(log: BuildLog) -> Vertex | None:
    """The vertex that failed first (a step if any; otherwise any errored vertex)."""
    errored = [v for v in log.completion_order() if v.error is not None]
    return next((v for v in errored if v.is_step), errored[0] if errored else None)


def error_lines(v: Vertex, limit: int = MAX_CAUSE_LINES) -> list[str]:
    """The step's own error output: error-looking lines (last ``limit``), else its last lines.

    Only the step's output lines are read, never its title: the title of a RUN
    step holds its whole script, which is not what went wrong."""
    texts = [t.rstrip() for _, t in v.output if t.strip()]
    picked = [t for t in texts if _ERRORISH.search(t)] or texts
    return [t if len(t) <= 200 else t[:199] + "…" for t in picked[-limit:]]


_HINTS = (  # (pattern on the error lines, stage filter or None, hint; {ca} is filled in)
    (re.compile(r"certificate|x509|SSL|TLS handshake|UNABLE_TO_(GET|VERIFY)|SELF_SIGNED|CERT_", re.I), None,
     "{ca}"),
    (re.compile(r"failed to create endpoint|no space left on device|failed to mount|network bridge", re.I), None,
     "the Docker engine itself failed (not the build); run it again, and check `docker info` if it repeats"),
    (re.compile(r"took longer than \d+s", re.I), None,
     "the step hit its time limit: raise --step-timeout, or check the network/proxy it waits for"),
    (re.compile(r"GOPROXY|GOSUMDB|GOPRIVATE|GONOSUMDB|GONOPROXY", re.I), None,
     "a Go module setting was refused: see the line above, or pass --allow-unsafe-go-modules"),
    (re.compile(r"go mod download failed|fetching Go modules .*failed|reading https?://|dial tcp|proxyconnect|verifying .*: |"
                r"unrecognized import path|410 Gone|404 Not Found|no such host|connection refused", re.I),
     ("go-mod", "go-deps", "go-build", "build-tools"),
     "Go modules could not be fetched: set --goproxy (GOPROXY) to a proxy you can reach, "
     "or --goprivate/--go-netrc for private modules"),
)


def engine_message(error: str) -> str | None:
    """BuildKit's reason without the script it quotes: ``executor failed running [sh -c ...]: X`` -> X.

    None when the reason is only the step's exit code (its output says more)."""
    text = error.strip()
    if not text:
        return None
    tail = text.rsplit("]: ", 1)[1] if "]: " in text else text.splitlines()[0]
    tail = tail.strip()
    return None if _EXIT_CODE.fullmatch(tail) or "[sh -c" in tail else tail


def failure_cause(log: BuildLog, *, ca_cert_given: bool = False) -> Cause | None:
    v = failed_vertex(log)
    if v is None:
        return None
    code = None
    for text in (v.error or "", log.error or ""):
        if m := _EXIT_CODE.search(text.strip()):
            code = int(m.group(1))
            break
    lines = error_lines(v)
    engine = engine_message(v.error or log.error or "")
    if not lines and engine:  # nothing printed: BuildKit's own message, without the script it quotes
        lines = [engine if len(engine) <= 200 else engine[:199] + "…"]
    blob = "\n".join([*(t for _, t in v.output), engine or ""])
    hint = None
    for rx, stages, text in _HINTS:
        if rx.search(blob) and (stages is None or v.stage in stages):
            ca = ("TLS verification failed: your --ca-cert bundle does not cover this host; pass the bundle "
                  "of the proxy that intercepts TLS" if ca_cert_given else
                  "TLS verification failed (a TLS-intercepting proxy?): pass --ca-cert FILE with its CA bundle")
            hint = text.format(ca=ca)
            break
    return Cause(short_name(v), v.title, code, tuple(lines), hint)
