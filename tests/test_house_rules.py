"""House rule: no package-registry host name anywhere in the repository.

The hosts are not written here either: they are read at run time from the
tools' own defaults and this machine's configuration (go env, pip's built-in
index, npm/yarn config, apt sources).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent


def _run(*cmd: str) -> str:
    if not shutil.which(cmd[0]):
        return ""
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def _hosts_in(text: str) -> set[str]:
    hosts = set()
    for token in re.split(r"[\s,|\"']+", text):
        if "://" in token:
            host = urlsplit(token).hostname
        else:
            host = token.split("+")[0] if re.fullmatch(r"[a-z0-9.-]+\.[a-z]{2,}(\+\S+)?", token) else None
        if host and "." in host and not host.endswith((".invalid", ".example", ".local")):
            hosts.add(host.lower())
    return hosts


def registry_hosts() -> set[str]:
    hosts = _hosts_in(_run("go", "env", "GOPROXY", "GOSUMDB"))
    hosts |= _hosts_in(_run("npm", "config", "get", "registry"))
    hosts |= _hosts_in(_run("yarn", "config", "get", "registry"))
    try:
        from pip._internal.models.index import PyPI  # pip's built-in default index

        hosts |= {urlsplit(PyPI.url).hostname, PyPI.file_storage_domain}
    except ImportError:
        pass
    for src in [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*")]:
        if src.is_file():
            hosts |= _hosts_in(src.read_text(errors="replace"))
    return {h for h in hosts if h}


def test_no_registry_host_name_in_any_tracked_file():
    hosts = registry_hosts()
    assert len(hosts) >= 3, f"could not learn the registry hosts from this machine: {hosts}"
    files = subprocess.run(["git", "-C", str(ROOT), "ls-files"], capture_output=True, text=True, check=True)
    offenders = []
    for rel in files.stdout.splitlines():
        path = ROOT / rel
        if not path.is_file():
            continue
        text = path.read_bytes().decode("utf-8", errors="replace").lower()
        offenders += [f"{rel}: {h}" for h in hosts if h in text]
    assert not offenders, offenders
