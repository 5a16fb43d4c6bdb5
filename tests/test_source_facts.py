"""The stamped Git hash of a local source: git's own `--short`, as Flamenco's magefiles.

Real git repositories in tmp dirs and the real git binary; "no git" is a PATH
without git on it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pipeline.core import source_facts
from pipeline.core.source_facts import FALLBACK_HASH_LENGTH, hash_from_ci_env, hash_from_git_files, local_stamp
from tests.conftest import FIXTURE

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}


def git(path: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(path), *args], check=True, capture_output=True, text=True,
                          env={**os.environ, **GIT_ENV}).stdout.strip()


@pytest.fixture
def checkout(tmp_path, monkeypatch) -> Path:
    if shutil.which("git") is None:
        pytest.fail("no git on PATH", pytrace=False)
    for var in source_facts.CI_HASH_VARS:
        monkeypatch.delenv(var, raising=False)
    src = tmp_path / "flamenco"
    shutil.copytree(FIXTURE, src)
    git(src, "init", "-q", "-b", "main")
    git(src, "add", "-A")
    git(src, "commit", "-q", "-m", "one")
    return src


def test_hash_is_gits_own_short_hash(checkout):
    stamp = local_stamp(checkout)
    assert stamp.git_hash == git(checkout, "rev-parse", "--short", "HEAD")
    assert len(stamp.git_hash) == 7  # git's minimum, for a repository this small


def test_git_chooses_the_length_not_us(checkout):
    git(checkout, "config", "core.abbrev", "12")  # what git would print, so what make would stamp
    assert local_stamp(checkout).git_hash == git(checkout, "rev-parse", "--short", "HEAD")
    assert len(local_stamp(checkout).git_hash) == 12


def test_without_git_the_git_files_give_the_fallback_length(checkout, tmp_path, monkeypatch):
    full = git(checkout, "rev-parse", "HEAD")
    empty = tmp_path / "no-git-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert local_stamp(checkout).git_hash == full[:FALLBACK_HASH_LENGTH]


def test_git_files_resolve_loose_and_packed_refs(checkout):
    full = git(checkout, "rev-parse", "HEAD")

    def reader(root: Path):
        return lambda rel: (root / rel).read_text() if (root / rel).is_file() else None

    assert hash_from_git_files(reader(checkout)) == full[:FALLBACK_HASH_LENGTH]
    git(checkout, "pack-refs", "--all")
    assert not (checkout / ".git/refs/heads/main").exists()
    assert hash_from_git_files(reader(checkout)) == full[:FALLBACK_HASH_LENGTH]
    git(checkout, "checkout", "-q", "--detach")
    assert hash_from_git_files(reader(checkout)) == full[:FALLBACK_HASH_LENGTH]


def test_ci_variable_gives_the_fallback_length():
    assert hash_from_ci_env({"GITHUB_SHA": "CF286E71" + "0" * 32}) == "cf286e71"
