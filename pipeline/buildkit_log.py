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
