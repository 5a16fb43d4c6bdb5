"""A Markdown summary of a JUnit XML report, for CI job summaries ($GITHUB_STEP_SUMMARY).

Standard library only (the CI job installs the pipeline without test extras).
Reads what gotestsum writes (`<testsuites>` of `<testsuite>`s, a `<failure>` whose
`message` is just "Failed" and whose text holds the test output) and any other
JUnit producer with a `<testsuite>` or `<testsuites>` root.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

GENERIC_MESSAGES = {"", "failed", "failure", "error"}


class JUnitError(ValueError):
    """The file is not a JUnit report we can read (one line)."""


@dataclass
class Case:
    suite: str
    name: str
    time: float
    status: str  # passed | failed | error | skipped
    message: str = ""
    output: str = ""

    @property
    def title(self) -> str:
        return f"{self.suite}.{self.name}" if self.suite else self.name


@dataclass
class Report:
    cases: list[Case] = field(default_factory=list)
    time: float = 0.0

    def count(self, *status: str) -> int:
        return sum(1 for c in self.cases if c.status in status)

    @property
    def failed(self) -> list[Case]:
        return [c for c in self.cases if c.status in ("failed", "error")]


def _float(value: str | None) -> float:
    try:
        return float(value or 0)
    except ValueError:
        return 0.0


def _first_meaningful_line(text: str) -> str:
    """The first line of test output that says something (skips go test's RUN/FAIL banners)."""
    for line in text.splitlines():
        s = line.strip()
        if s and not s.startswith(("=== RUN", "=== PAUSE", "=== CONT", "--- FAIL", "--- PASS", "--- SKIP")):
            return s
    return ""


_LOCATION = re.compile(r"^(\S+\.go:\d+):\s*(.*)$")
_TESTIFY_LABEL = re.compile(r"^(Error Trace|Error|Test|Messages):\s*(.*)$")


def failure_message(text: str) -> str:
    """What a failing Go test said, on one line.

    ``t.Errorf`` output is ``file.go:N: message``. testify (Flamenco's tests use
    it) prints ``file.go:N:`` alone, then a tab-aligned block: ``Error Trace:``,
    ``Error:`` with continuation lines (``expected: …``, ``actual  : …``, a
    diff), ``Test:`` and ``Messages:``. From that block: the location, the
    error, the expected/actual lines and the message, not the diff or trace."""
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.strip().startswith(
        ("=== RUN", "=== PAUSE", "=== CONT", "--- FAIL", "--- PASS", "--- SKIP"))]
    for i, line in enumerate(lines):
        m = _LOCATION.match(line.strip())
        if not m or m.group(2):
            continue
        fields: dict[str, list[str]] = {}
        label = None
        for more in lines[i + 1:]:
            cells = [c.strip() for c in more.split("\t") if c.strip()]
            if not cells:
                continue
            lm = _TESTIFY_LABEL.match(cells[0]) if more.lstrip(" ").startswith("\t") else None
            if lm is None and not more.startswith((" ", "\t")):
                break
            if lm:
                label = lm.group(1)
                fields[label] = [" ".join(cells[1:])] if len(cells) > 1 else []
            elif label:
                fields[label].append(" ".join(cells))
        if "Error" in fields:
            error = fields["Error"]
            keep = [error[0].rstrip(": ") if error else ""] + [e for e in error[1:] if e.startswith(("expected", "actual"))]
            msg = f"{m.group(1)}: " + "; ".join(k for k in keep if k)
            if fields.get("Messages"):
                msg += " — " + " ".join(fields["Messages"])
            return msg
    return _first_meaningful_line(text)


def parse(path: Path) -> Report:
    try:
        root = ET.parse(path).getroot()
    except FileNotFoundError:
        raise JUnitError(f"invalid argument JUNIT_XML={str(path)!r}: no such file; pass the exported reports/junit.xml") from None
    except ET.ParseError as e:
        raise JUnitError(f"invalid argument JUNIT_XML={str(path)!r}: not XML ({e}); pass a JUnit XML report") from None
    if root.tag == "testsuite":
        suites = [root]
    elif root.tag == "testsuites":
        suites = root.findall("testsuite")
    else:
        raise JUnitError(f"invalid argument JUNIT_XML={str(path)!r}: root element <{root.tag}> is not <testsuites> or <testsuite>")
    report = Report()
    for suite in suites:
        for tc in suite.iter("testcase"):
            status, message, output = "passed", "", ""
            for kind in ("failure", "error", "skipped"):
                el = tc.find(kind)
                if el is not None:
                    status = {"failure": "failed"}.get(kind, kind)
                    message = (el.get("message") or "").strip()
                    output = (el.text or "").strip()
                    if status == "skipped" and not output:
                        output = message
                    break
            report.cases.append(Case(
                suite=tc.get("classname") or suite.get("name") or "",
                name=tc.get("name") or "?",
                time=_float(tc.get("time")),
                status=status, message=message, output=output,
            ))
    report.time = _float(root.get("time")) if root.tag == "testsuites" and root.get("time") else sum(
        _float(s.get("time")) for s in suites
    )
    return report


def _cell(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("|", "\\|").replace("`", "'") or " "


def _seconds(t: float) -> str:
    return f"{t:.2f} s" if t < 10 else f"{t:.1f} s"


def _short_suites(cases: list[Case]) -> dict[str, str]:
    """Suite names without their common module prefix (`example.com/x/internal/a` -> `internal/a`)."""
    names = sorted({c.suite for c in cases if c.suite})
    if len(names) < 2:
        return {n: n.rsplit("/", 1)[-1] for n in names}
    parts = [n.split("/") for n in names]
    common = 0
    while all(len(p) > common + 1 for p in parts) and len({p[common] for p in parts}) == 1:
        common += 1
    return {n: "/".join(n.split("/")[common:]) for n in names}


def render(report: Report, *, title: str = "Go tests", slowest: int = 10, repro_line: str | None = None) -> str:
    passed, skipped = report.count("passed"), report.count("skipped")
    failed, errors = report.count("failed"), report.count("error")
    short = _short_suites(report.cases)

    def name(c: Case) -> str:
        return f"`{_cell(short.get(c.suite, c.suite))}` {_cell(c.name)}"

    verdict = "passed" if not (failed or errors) else f"{failed + errors} failed"
    if not report.cases:
        verdict = "no tests ran"
    out = [f"### {title}: {verdict}", "",
           "| passed | failed | skipped | time |", "|---:|---:|---:|---:|",
           f"| {passed} | {failed + errors}{f' ({errors} errors)' if errors else ''} | {skipped} | {_seconds(report.time)} |"]
    if report.failed:
        out += ["", "#### Failures", "", "| test | message |", "|---|---|"]
        for c in report.failed:
            msg = c.message if c.message.lower() not in GENERIC_MESSAGES else ""
            msg = msg or failure_message(c.output) or c.status
            out.append(f"| {name(c)} | {_cell(msg, 300)} |")
    timed = sorted((c for c in report.cases if c.status != "skipped" and c.time > 0), key=lambda c: -c.time)[:slowest]
    if timed:
        out += ["", f"#### Slowest tests (top {len(timed)})", "", "| test | time |", "|---|---:|"]
        out += [f"| {name(c)} | {_seconds(c.time)} |" for c in timed]
    if repro_line:
        out += ["", f"Reproduce locally: `{repro_line}`"]
    return "\n".join(out) + "\n"
