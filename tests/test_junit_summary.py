"""The JUnit -> Markdown job summary, on real gotestsum reports.

tests/data/junit-flamenco-mini-pass.xml and -fail.xml are real JUnit files from the
container lane's fixture tests, produced on 2026-11-28 with Go 1.26.8 by

    cd tests/fixtures/flamenco-mini && go run gotest.tools/gotestsum@v1.13.0 --junitfile junit.xml -- -short ./...

(the same gotestsum version and flags as the pipeline's `test` stage). The failing
one comes from a temporary copy of the fixture with `internal/appinfo/testdata/fail`
created, which makes its TestFixtureCanFail fail on purpose.
"""

from __future__ import annotations

from pathlib import Path

import junitparser
import pytest
from click.testing import CliRunner

from pipeline.reports import junit as js
from pipeline.cli.app import main
from tests.conftest import ROOT

DATA = ROOT / "tests" / "data"
PASS = DATA / "junit-flamenco-mini-pass.xml"
FAIL = DATA / "junit-flamenco-mini-fail.xml"


def table_rows(markdown: str, header: str) -> list[list[str]]:
    """Rows of the Markdown table whose header line starts with `header`."""
    lines = markdown.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith(header))
    rows = []
    for ln in lines[start + 2:]:
        if not ln.startswith("|"):
            break
        rows.append([c.strip() for c in ln.strip("|").split(" | ")])
    return rows


@pytest.mark.parametrize("path", [PASS, FAIL])
def test_counts_agree_with_junitparser(path):
    """An independent JUnit reader gives the same numbers."""
    ours = js.parse(path)
    xml = junitparser.JUnitXml.fromfile(str(path))
    cases = [c for suite in xml for c in suite]
    theirs = {"failed": 0, "skipped": 0, "passed": 0}
    for c in cases:
        kinds = {type(r).__name__ for r in c.result}
        theirs["failed" if kinds & {"Failure", "Error"} else "skipped" if "Skipped" in kinds else "passed"] += 1
    assert (ours.count("passed"), ours.count("failed", "error"), ours.count("skipped")) == (
        theirs["passed"], theirs["failed"], theirs["skipped"])
    assert len(ours.cases) == len(cases) == 19


def test_passing_report_summary():
    md = js.render(js.parse(PASS))
    assert md.startswith("### Go tests: passed\n")
    assert table_rows(md, "| passed |") == [["18", "0", "1", "1.40 s"]]
    assert "#### Failures" not in md
    slowest = table_rows(md, "| test | time |")
    assert slowest[0] == ["`cmd/flamenco-worker` TestRunOnceRegistersAndSignsOn", "1.00 s"]
    assert slowest[1] == ["`cmd/flamenco-worker` TestWaitForManagerGivesUp", "0.30 s"]
    times = [float(t.split()[0]) for _, t in slowest]
    assert times == sorted(times, reverse=True)


def test_failing_report_names_the_test_and_its_message():
    md = js.render(js.parse(FAIL), repro_line="flamenco-pipeline repro repro.json")
    assert md.startswith("### Go tests: 1 failed\n")
    assert table_rows(md, "| passed |") == [["17", "1", "1", "1.44 s"]]
    (failure,) = table_rows(md, "| test | message |")
    # gotestsum's message attribute is just "Failed": the first real output line is shown instead
    assert failure == ["`internal/appinfo` TestFixtureCanFail",
                       "appinfo_test.go:90: testdata/fail exists: failing on purpose (see the fixture's README.md)"]
    assert md.rstrip().endswith("Reproduce locally: `flamenco-pipeline repro repro.json`")


def test_slowest_limit_and_zero():
    assert len(table_rows(js.render(js.parse(PASS), slowest=1), "| test | time |")) == 1
    assert "Slowest" not in js.render(js.parse(PASS), slowest=0)


def test_markdown_table_cells_are_escaped(tmp_path):
    p = tmp_path / "j.xml"
    p.write_text('<testsuite name="s" time="2"><testcase classname="pkg" name="TestA|B" time="2">'
                 '<failure message="want `x` | got y">out</failure></testcase></testsuite>')
    md = js.render(js.parse(p))
    assert "TestA\\|B" in md and "want 'x' \\| got y" in md
    (row,) = table_rows(md, "| test | message |")
    assert len(row) == 2


def test_cli_summary_for_github_step_summary(tmp_path):
    r = CliRunner().invoke(main, ["summary", str(FAIL), "--slowest", "3"])
    assert r.exit_code == 0, r.output
    assert r.output == js.render(js.parse(FAIL), slowest=3)


@pytest.mark.parametrize("content, problem", [
    (None, "no such file"),
    ("this is not xml", "not XML"),
    ("<html><body/></html>", "is not <testsuites> or <testsuite>"),
])
def test_cli_summary_bad_input_is_one_line_exit_2(tmp_path, content, problem):
    p = tmp_path / "junit.xml"
    if content is not None:
        p.write_text(content)
    r = CliRunner().invoke(main, ["summary", str(p)])
    assert r.exit_code == 2
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and "JUNIT_XML" in lines[0] and problem in lines[0]
    assert "Traceback" not in r.output


def test_cli_summary_rejects_a_foreign_repro_file(tmp_path):
    bad = tmp_path / "repro.json"
    bad.write_text('{"schema": "something-else"}')
    r = CliRunner().invoke(main, ["summary", str(PASS), "--repro", str(bad)])
    assert r.exit_code == 2 and "REPRO_JSON" in r.output and len(r.output.strip().splitlines()) == 1


def test_stored_reports_are_what_gotestsum_wrote():
    for p in (PASS, FAIL):
        head = Path(p).read_text().splitlines()[:2]
        assert head[0].startswith("<?xml") and head[1].startswith("<testsuites tests=\"19\"")


def test_testify_failure_shows_the_assertion_and_its_message_not_just_the_location():
    """tests/data/junit-testify-fail.xml: gotestsum v1.13.0's JUnit of a real testify
    assert.Equal failure (go 1.26, testify v1.12.1; the test file's path rewritten to /src)."""
    from pipeline.reports.junit import parse, render

    md = render(parse(Path(__file__).parent / "data" / "junit-testify-fail.xml"))
    row = next(ln for ln in md.splitlines() if "TestMeta" in ln and ln.startswith("|"))
    assert "meta_test.go:10: Not equal" in row
    assert 'expected: "flamenco-manager"' in row and 'actual : "flamenco-worker"' in row
    assert "the binary name comes from the ldflags" in row
    assert "Diff" not in row and "Error Trace" not in row
