"""`flamenco-pipeline report` on untrusted build-report.json: schema-checked, bounded work, inert Markdown.

A report can come from any CI run (a pull request's included). The real CLI through
CliRunner on files written here; the report itself is built from a real BuildKit log
(tests/data) by the real adapter. jsonschema (a test dependency) is the reference the
runtime checker (pipeline/core/schema_check.py) must agree with.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from pipeline.reports import docker_adapter as report_docker_adapter, schema as report_schema, svg as report_svg
from pipeline.cli.app import main
from pipeline.core.schema_check import first_error

COLD = Path(__file__).parent / "data" / "buildkit-plain-app-cold.log"


@pytest.fixture(scope="module")
def report() -> dict:
    return report_docker_adapter.docker_lane_report([report_docker_adapter.TargetLog("app", COLD.read_text(), started=0.0, seconds=100.0)], inspect=False)


def run_report(tmp_path: Path, data) -> object:
    p = tmp_path / "build-report.json"
    p.write_text(data if isinstance(data, str) else json.dumps(data))
    return CliRunner().invoke(main, ["report", str(p), "--output-dir", str(tmp_path / "out"), "--quiet"])


def one_line_exit_2(r, needle: str):
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in r.output, r.output


@pytest.mark.parametrize("change, needle", [
    (lambda r: r.update(stages="go-base"), "stages: is str, expected array"),
    (lambda r: {"schema": report_schema.SCHEMA_ID}, "missing required key 'lane'"),
    (lambda r: r["stages"][0].update(start="0"), "stages[0].start"),
    (lambda r: r["stages"][0].update(end=-1), "below 0"),
    (lambda r: r["stages"][0].update(steps=[{"start": 0}]), "stages[0].steps[0]: missing required key 'end'"),
    (lambda r: r["critical_path"].update(segments=[None]), "critical_path.segments[0]"),
])
def test_a_report_that_breaks_the_schema_is_one_line_exit_2(tmp_path, report, change, needle):
    data = copy.deepcopy(report)
    data = change(data) or data
    one_line_exit_2(run_report(tmp_path, data), needle)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize("number", ["1e999", "-1e999", "NaN", "Infinity"])
def test_non_finite_numbers_are_refused(tmp_path, report, number):
    text = json.dumps(report).replace('"timeline_seconds": ', f'"timeline_seconds": {number}, "x": ', 1)
    one_line_exit_2(run_report(tmp_path, text), "REPORT_JSON")


@pytest.mark.parametrize("end", [1e308, 1e12, 7.5e6])
def test_huge_times_render_a_bounded_chart(tmp_path, report, end):
    """The issue's case: a stage ending at 1e308 once drew ticks without end (21.5 GB in 10 min)."""
    data = copy.deepcopy(report)
    data["stages"][0]["end"] = data["stages"][0]["seconds"] = end
    r = run_report(tmp_path, data)
    assert r.exit_code == 0, r.output
    svg = (tmp_path / "out" / report_schema.FILES["svg"]).read_text()
    ticks = re.findall(r'text-anchor="middle"[^>]*>([^<]*) s</text>', svg)
    assert 2 <= len(ticks) <= report_svg.MAX_TICKS + 1
    assert len(svg) < 50_000 + 2_000 * len(data["stages"])


def test_strings_from_the_report_are_inert_markdown(tmp_path, report):
    data = copy.deepcopy(report)
    stage = next(s for s in data["stages"] if s["kind"] == "stage")
    stage["name"] = "x | y <img src=https://tracker.example/p.gif> ![a](https://tracker.example/i.png)"
    data["notes"] = ["line\n## injected heading", "`code` [link](javascript:alert(1))"]
    r = CliRunner().invoke(main, ["report", str(_write(tmp_path, data)), "--output-dir", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    md = (tmp_path / "o" / report_schema.FILES["markdown"]).read_text()
    assert "<img" not in md and "![a](" not in md and "[link](" not in md and "\n## injected" not in md
    assert "x \\| y" in md  # the table row is not split


def _write(tmp_path: Path, data) -> Path:
    p = tmp_path / "r.json"
    p.write_text(json.dumps(data))
    return p


# --- the runtime checker agrees with jsonschema -------------------------------------------
_values = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(-1, 1e6, allow_nan=False),
                    st.text(max_size=5), st.just([]), st.just({}))


@hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_schema_check_agrees_with_jsonschema(report, data):
    """Mutate one value somewhere in a valid report; both checkers give the same verdict."""
    doc = copy.deepcopy(report)
    paths = list(_paths(doc))
    path = data.draw(st.sampled_from(paths))
    target = doc
    for key in path[:-1]:
        target = target[key]
    if data.draw(st.booleans()) and isinstance(target, dict):
        del target[path[-1]]
    else:
        target[path[-1]] = data.draw(_values)
    ours = first_error(doc, report_schema.SCHEMA) is None
    theirs = jsonschema.Draft202012Validator(report_schema.SCHEMA).is_valid(doc)
    assert ours == theirs, (path, first_error(doc, report_schema.SCHEMA))


def _paths(value, prefix=()):
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return
    for k, v in items:
        yield (*prefix, k)
        yield from _paths(v, (*prefix, k))


def test_the_valid_report_is_valid_for_both(report):
    assert first_error(report, report_schema.SCHEMA) is None
    jsonschema.validate(report, report_schema.SCHEMA)
