"""Validators for single setting values, shared by the settings model and the CLI.

Every function takes a value and either returns it (possibly normalised) or raises
``ValueError`` with a message that says what is wrong *and* how to fix it. The
settings model turns that into a one-line error naming the setting. No function
here touches the network, the file system beyond reading a given path, or an engine.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

# Docker/OCI image reference: [registry[:port]/]path[:tag][@digest]
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"sha256:[a-f0-9]{64}"
IMAGE_REF_RE = re.compile(
    rf"^(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*(?::{_TAG})?(?:@{_DIGEST})?$"
)
TAG_RE = re.compile(rf"^{_TAG}$")
VERSION_RE = re.compile(r"^[0-9]+\.[0-9]+(?:\.[0-9]+)?(?:-[0-9A-Za-z][0-9A-Za-z.]*)?$")
GO_VERSION_RE = re.compile(r"^1\.[0-9]+(?:\.[0-9]+)?(?:(?:rc|beta)[0-9]+)?$")
GIT_HASH_RE = re.compile(r"^[0-9a-f]{7,40}$")
RELEASE_CYCLES = ("alpha", "beta", "rc", "release")
PLATFORMS = ("linux/amd64", "linux/arm64")
_GO_PATTERN_RE = re.compile(r"^[A-Za-z0-9.*?\[\]_/-]+$")


def image_ref(value: str) -> str:
    if not IMAGE_REF_RE.match(value):
        raise ValueError(
            "not a valid image reference; use NAME[:TAG][@sha256:DIGEST], "
            "e.g. debian:bookworm-slim or registry.example/team/golang:1.26.2-bookworm"
        )
    return value


def image_tag(value: str) -> str:
    if not TAG_RE.match(value):
        raise ValueError(
            "not a valid image tag; use letters, digits, '_', '.', '-' (max 128, "
            "not starting with '.' or '-')"
        )
    return value


def version(value: str) -> str:
    if not VERSION_RE.match(value):
        raise ValueError("not a Flamenco version; use MAJOR.MINOR[.PATCH][-SUFFIX], e.g. 3.8.5 or 3.9-beta1")
    return value


def go_version(value: str) -> str:
    value = value.removeprefix("go")
    if not GO_VERSION_RE.match(value):
        raise ValueError("not a Go version; use e.g. 1.26.2 (as in go.mod's 'go' or 'toolchain' line)")
    return value


def git_hash(value: str) -> str:
    if not GIT_HASH_RE.match(value):
        raise ValueError("not a git commit hash; use 7-40 lowercase hex digits, e.g. from `git rev-parse --short HEAD`")
    return value


def release_cycle(value: str) -> str:
    if value not in RELEASE_CYCLES:
        raise ValueError(f"unknown release cycle; use one of {', '.join(RELEASE_CYCLES)}")
    return value


def platform(value: str) -> str:
    if value not in PLATFORMS:
        raise ValueError(f"unsupported platform; use one of {', '.join(PLATFORMS)}")
    return value


def git_ref(value: str) -> str:
    """Approximates `git check-ref-format --allow-onelevel`."""
    bad = (
        not value
        or value.startswith(("-", "/", "."))
        or value.endswith(("/", ".", ".lock"))
        or ".." in value
        or "@{" in value
        or "//" in value
        or any(c in value for c in " ~^:?*[\\\t\n")
        or any(ord(c) < 32 or ord(c) == 127 for c in value)
    )
    if bad:
        raise ValueError("not a valid git ref; use a tag, branch or commit, e.g. v3.8.5 or main")
    return value


def git_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http", "ssh", "git") or not parts.netloc or " " in value:
        raise ValueError("not a git URL; use https://host/owner/repo.git (or ssh://)")
    if parts.password:
        raise ValueError("the URL carries a password; drop it and use a git credential helper or --netrc secret")
    return value


def _proxy_entry(entry: str) -> None:
    if entry in ("direct", "off"):
        return
    parts = urlsplit(entry)
    if parts.scheme not in ("https", "http", "file") or (parts.scheme != "file" and not parts.netloc):
        raise ValueError(
            f"entry {entry!r} is not a URL, 'direct' or 'off'; "
            "use a comma- or pipe-separated list such as https://goproxy.corp.example,direct"
        )
    if parts.password or parts.username:
        raise ValueError(
            f"entry '{parts.scheme}://{parts.hostname}…' carries credentials; remove them from GOPROXY "
            "and pass a netrc as a secret (--go-netrc) instead"
        )


def goproxy(value: str, *, allow_unsafe: bool) -> str:
    """Validates a GOPROXY list with Go's own grammar (entries joined by ',' or '|').

    The Go default itself ends in ',direct' as a fallback, so 'direct' after a
    proxy is fine. What is refused without the opt-in is no proxy at all: a list
    that starts with 'direct' (every module straight from VCS, the setting that
    made Flamenco's Docker builds hang) or contains 'off' (no downloads at all).
    """
    if value != value.strip() or not value:
        raise ValueError("empty or padded with spaces; unset it to use the Go toolchain's default proxy")
    entries = re.split(r"[,|]", value)
    if any(e == "" for e in entries):
        raise ValueError("has an empty entry (',,' or a trailing separator); remove it")
    for e in entries:
        _proxy_entry(e)
    if not allow_unsafe and (entries[0] == "direct" or "off" in entries):
        raise ValueError(
            "bypasses the module proxy ('direct' first, or 'off'), which fetches from VCS and made "
            "Flamenco's Docker builds hang; unset it to use the Go default proxy, or opt in with "
            "--allow-unsafe-go-modules"
        )
    return value


def gosumdb(value: str, *, allow_unsafe: bool) -> str:
    if not value or value != value.strip() or len(value.split()) > 2:
        raise ValueError("malformed; use NAME[+KEY] [URL], or unset it to use the Go default checksum database")
    if value == "off" and not allow_unsafe:
        raise ValueError(
            "GOSUMDB=off disables module checksum verification; unset it to use the Go default "
            "checksum database, or opt in with --allow-unsafe-go-modules"
        )
    return value


def go_patterns(value: str, *, allow_unsafe: bool) -> str:
    """GOPRIVATE / GONOSUMDB / GONOPROXY: comma-separated module path globs."""
    pats = value.split(",")
    for p in pats:
        if not _GO_PATTERN_RE.match(p):
            raise ValueError(
                f"pattern {p!r} is not a module path glob; use comma-separated globs like "
                "corp.example/*,github.com/team/*"
            )
    if not allow_unsafe and any(p in ("*", "*/*") for p in pats):
        raise ValueError(
            "a bare '*' turns the checksum database off for every module; list your private module "
            "paths instead, or opt in with --allow-unsafe-go-modules"
        )
    return value


def goflags(value: str) -> str:
    if "\n" in value:
        raise ValueError("must be one line of go flags, e.g. -mod=readonly")
    for flag in value.split():
        if not flag.startswith("-"):
            raise ValueError(f"{flag!r} is not a flag; GOFLAGS holds flags like -mod=readonly only")
    return value


def ca_cert(path: Path) -> Path:
    if not path.is_file():
        raise ValueError(f"file '{path}' does not exist; pass the path of a PEM CA bundle, e.g. /etc/ssl/certs/ca-certificates.crt")
    try:
        head = path.read_bytes()
    except OSError as e:
        raise ValueError(f"cannot read '{path}' ({e.strerror}); check its permissions") from None
    if b"-----BEGIN CERTIFICATE-----" not in head:
        raise ValueError(f"'{path}' is not a PEM certificate (no BEGIN CERTIFICATE block); convert it with `openssl x509 -inform der -in FILE -out FILE.pem`")
    return path


def positive_seconds(value: int) -> int:
    if value < 10 or value > 6 * 3600:
        raise ValueError("must be between 10 and 21600 seconds")
    return value


def npm_registry(value: str) -> str:
    """A registry URL for yarn (a mirror): http(s) with a host, no credentials in it."""
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname or value != value.strip():
        raise ValueError("not a registry URL; use your mirror's https://host/path/ or unset it for yarn's default")
    if parts.username or parts.password:
        raise ValueError("the URL carries credentials; drop them (a registry token belongs in a secret, not a URL)")
    return value
