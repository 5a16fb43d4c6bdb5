"""The README's commands and the flags the docs name are real.

* Every command in README.md's ```sh blocks is classified: run here when it can run
  offline (a venv, `bench/rebuild.py --help`), otherwise parsed by the tool it names
  (flamenco-pipeline: click parses the whole line, unknown options fail; dagger call:
  every option is a constructor or function argument of the module, or a core
  `export`/`up` argument; docker build: the target and build args exist in
  Dockerfile.dev; compose: the variables it sets are the ones compose.dev.yml reads).
* Every `--flag` in README.md and docs/*.md that belongs to flamenco-pipeline (a
  settings table entry, a `flamenco-pipeline ...` span) is an option of the CLI;
  flags on `dagger call` lines are arguments of the module.
* Claims about the benchmark's length agree with the measured `bench_seconds`.
"""

from __future__ import annotations

import inspect
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import click
import pytest

from pipeline.cli.app import main
from pipeline.core.settings_registry import SETTINGS

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = [README, *sorted((ROOT / "docs").glob("*.md"))]


def fenced_commands(text: str) -> list[str]:
    """Commands of the ```sh blocks: continuation lines joined, comments and blank lines dropped."""
    out = []
    for block in re.findall(r"^```sh\n(.*?)^```", text, re.M | re.S):
        cur = ""
        for line in block.splitlines():
            line = re.sub(r"\s+#.*$", "", line) if not line.lstrip().startswith("#") else ""
            if not line.strip():
                continue
            cur += line.rstrip("\\").strip() + " "
            if not line.rstrip().endswith("\\"):
                out.append(cur.strip())
                cur = ""
    return out


def cli_options() -> dict[str, set[str]]:
    """Command path -> its options, for every command of the CLI (lazy ones included)."""
    out: dict[str, set[str]] = {}

    def walk(cmd: click.Command, path: str, ctx: click.Context) -> None:
        out[path] = {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)}
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                if sub is not None:
                    walk(sub, f"{path} {name}".strip(), click.Context(sub, parent=ctx, info_name=name))

    walk(main, "", click.Context(main, info_name="flamenco-pipeline"))
    return out


def dagger_arguments() -> set[str]:
    """Options `dagger call` accepts for this module: constructor and function arguments, and core ones."""
    from pipeline.dagger_lane.main import FlamencoPipeline

    names = set(inspect.signature(FlamencoPipeline.create).parameters)
    for _, fn in inspect.getmembers(FlamencoPipeline, callable):
        try:
            names |= set(inspect.signature(fn).parameters) - {"self", "cls"}
        except (TypeError, ValueError):
            continue
    flags = {"--" + n.replace("_", "-") for n in names}
    return flags | {"--path", "--ports", "--mod", "-m"}  # export --path, up --ports, dagger -m


def check_flamenco_pipeline(argv: list[str]) -> None:
    """Parse a flamenco-pipeline command line with the real CLI, without running it."""
    ctx = main.make_context("flamenco-pipeline", list(argv), resilient_parsing=False)
    cmd, rest = main, _rest(ctx)
    while isinstance(cmd, click.Group) and rest:
        name, *rest = rest
        sub = cmd.get_command(ctx, name)
        assert sub is not None, f"no command {name!r} in: flamenco-pipeline {' '.join(argv)}"
        ctx = sub.make_context(name, list(rest), parent=ctx, resilient_parsing=False)
        cmd, rest = sub, _rest(ctx) if isinstance(sub, click.Group) else []
    assert not isinstance(cmd, click.Group), f"no subcommand in: flamenco-pipeline {' '.join(argv)}"


def _rest(ctx: click.Context) -> list[str]:
    """A group's unparsed words: the subcommand and its arguments (click 8.2 keeps the first apart)."""
    protected = ctx.__dict__.get("_protected_args")
    return [*(ctx.protected_args if protected is None else protected), *ctx.args]


def _strip_env(words: list[str]) -> tuple[dict[str, str], list[str]]:
    env = {}
    while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
        k, _, v = words.pop(0).partition("=")
        env[k] = v
    return env, words


def _parts(command: str) -> list[str]:
    command = re.sub(r"\$\([^)]*\)", "SUBST", command)  # $(git ...) -> one word
    return [p.strip() for p in re.split(r"&&|\|\||;", command) if p.strip()]


def bench_flags() -> set[str]:
    r = subprocess.run([sys.executable, str(ROOT / "bench/rebuild.py"), "--help"], capture_output=True, text=True,
                       timeout=60, check=True)
    return set(re.findall(r"--[a-z][a-z-]+", r.stdout))


def test_readme_commands_run_or_parse(tmp_path):
    commands = fenced_commands(README.read_text())
    assert len(commands) >= 8, commands
    dagger_flags = dagger_arguments()
    dockerfile = (ROOT / "Dockerfile.dev").read_text()
    compose = (ROOT / "compose.dev.yml").read_text()
    ran = []
    for command in commands:
        for part in _parts(command):
            env, words = _strip_env(shlex.split(part, posix=True))
            tool = words[0]
            if tool == "python3" and words[1:3] == ["-m", "venv"]:  # offline: run it, activation included
                r = subprocess.run(["bash", "-c", command.split("&& python3 -m pip")[0]], cwd=tmp_path,
                                   capture_output=True, text=True, timeout=300)
                assert r.returncode == 0, r.stderr
                assert (tmp_path / ".venv/bin/python").exists()
                ran.append(part)
                break
            if tool == "python3":  # pip install: needs the package index
                assert words[1:4] == ["-m", "pip", "install"] and (ROOT / words[words.index("-c") + 1]).is_file()
            elif tool == "flamenco-pipeline":
                check_flamenco_pipeline(words[1:])
            elif tool == "dagger":
                for w in words:
                    if w.startswith("-"):
                        assert w.split("=")[0] in dagger_flags, f"{w} in: {part}"
            elif tool == ".venv/bin/python" and words[1] == "bench/rebuild.py":  # offline with --help
                r = subprocess.run([sys.executable, str(ROOT / words[1]), "--help"], capture_output=True, text=True,
                                   timeout=60)
                assert r.returncode == 0, r.stderr
                named = set(re.findall(r"--[a-z][a-z-]+", command)) - {"--help"}
                assert named <= set(re.findall(r"--[a-z][a-z-]+", r.stdout)), (named, r.stdout)
                ran.append(part)
            elif tool == "./scripts/test":
                assert (ROOT / "scripts/test").stat().st_mode & 0o111
            elif tool == "docker" and words[1] == "compose":
                assert words[words.index("-f") + 1] == "compose.dev.yml"
                for k in env:
                    assert f"${{{k}" in compose, f"compose.dev.yml does not read {k}"
            elif tool == "docker" and words[1] == "build":
                assert f" AS {words[words.index('--target') + 1]}\n" in dockerfile
                for i, w in enumerate(words):
                    if w == "--build-arg":
                        assert f"ARG {words[i + 1].split('=')[0]}" in dockerfile, w
            elif tool == "curl":  # a job submission: a documented operation, a complete SubmittedJob body
                url = next(w for w in words if w.startswith("http://"))
                path = "/" + url.split("/", 3)[3]
                fixture_api = json.loads((ROOT / "tests/fixtures/flamenco-mini/pkg/api/flamenco-openapi.json").read_text())
                assert "post" in fixture_api["paths"][path], part
                body = json.loads(words[words.index("-d") + 1])
                assert set(fixture_api["components"]["schemas"]["SubmittedJob"]["required"]) <= set(body), body
            elif tool == "git":
                continue
            else:
                pytest.fail(f"README command not classified: {part}")
    assert ran, "no README command was run"


def _code_spans(text: str) -> list[str]:
    return re.findall(r"`([^`\n]+)`", text)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_flag_the_docs_name_exists(doc):
    options = cli_options()
    every_cli_flag = set().union(*options.values()) | {"--help", "-h", "--version"}
    dagger_flags = dagger_arguments()
    bench = bench_flags()
    text = doc.read_text()
    lines = [*_code_spans(text), *fenced_commands(text)]
    for span in lines:
        for part in _parts(span):
            words = part.split()
            _, words = _strip_env(words)
            if not words:
                continue
            flags = [w.split("=")[0] for w in words if re.match(r"^--[a-z][a-z-]*[a-z]", w)]
            if words[0] == "flamenco-pipeline":
                unknown = [f for f in flags if f not in every_cli_flag | {"--help", "--version"}]
                assert not unknown, f"{doc.name}: {unknown} in `{part}`"
            elif words[0] == "dagger":
                unknown = [f for f in flags if f not in dagger_flags | {"--progress"}]
                assert not unknown, f"{doc.name}: {unknown} in `{part}`"
            elif words[0].startswith("--") and len(words) <= 3:  # a bare flag: the settings table, prose
                flag = words[0].split("=")[0]
                if flag in {"--secret", "--build-arg", "--frozen-lockfile", "--output", "--progress=plain",
                            "--network", "--mount", "--no-build", "--scale"}:
                    continue  # docker's and yarn's own, named as such in the text
                assert flag in every_cli_flag | dagger_flags | bench, f"{doc.name}: `{span}` names no option"


def test_every_setting_in_the_readme_table_is_a_flag():
    section = README.read_text().split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`(--[a-z][a-z-]+)", section)) - {"--help"}
    flags = {s.flag for s in SETTINGS}
    assert named and named <= flags, named - flags


def test_benchmark_length_claims_agree_with_the_measurement():
    measured = json.loads((ROOT / "bench/results/latest.json").read_text())["bench_seconds"] / 60
    for doc in (README, ROOT / "docs/performance.md"):
        text = doc.read_text()
        claims = [float(m) for m in re.findall(r"about (\d+(?:\.\d+)?) minutes", text)]
        assert claims, f"{doc.name} gives no benchmark length"
        for c in claims:
            assert abs(c - measured) <= 0.25 * measured, f"{doc.name}: about {c} minutes, measured {measured:.1f}"
