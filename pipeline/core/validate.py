"""Validators for single setting values, shared by the settings model and the CLI.

Every function takes a value and either returns it (possibly normalised) or raises
``ValueError`` with a message that says what is wrong *and* how to fix it. The
settings model turns that into a one-line error naming the setting. No function
here touches the network, the file system beyond reading a given path, or an engine.

Three rules hold for every value and every message, each in one place here:

* :func:`text` — every string setting is one line of printable text of bounded
  length, with no credentials in a URL (control characters, newlines, bidi
  overrides and ``user:password@`` are refused before any grammar is tried);
* grammars are matched with :func:`_full` (``re.fullmatch``, ASCII only), so a
  trailing newline or a non-ASCII digit never passes a ``$``/``\\w``;
* :func:`one_line` — every message, log line, report and repro.json string goes
  through :func:`redact` (URL userinfo becomes ``***``) and is escaped to one
  bounded line.
"""

from __future__ import annotations

import re
import stat
from pathlib import Path
from urllib.parse import urlsplit

#: Longest value any string setting may have (paths, URLs, lists of globs).
MAX_TEXT = 1024
#: Longest value echoed back in a message; the rest is elided.
MAX_SHOWN = 120
#: Settings (and arguments) whose values are never shown, only "<secret>".
SECRET_NAMES = frozenset({"go_netrc", "password"})

# scheme://userinfo@ -- greedy up to the last '@' before the path, like urlsplit.
_USERINFO_RE = re.compile(r"(?i)([a-z][a-z0-9+.-]*://)([^/?#\s]*)@")


def _is_secret_userinfo(scheme: str, info: str) -> bool:
    """A password, or any user name over http(s) (tokens travel as user names)."""
    return ":" in info or scheme.lower().startswith("http")


def redact(value: str) -> str:
    """URL credentials (``https://user:token@``, ``https://token@``) become ``***``."""
    def repl(m: re.Match) -> str:
        return m[1] + "***@" if _is_secret_userinfo(m[1], m[2]) else m[0]

    return _USERINFO_RE.sub(repl, value)


def strip_userinfo(url: str | None) -> str | None:
    """A URL without any userinfo at all (CI checkouts' remotes carry tokens): scheme, host, path."""
    return url if not url else _USERINFO_RE.sub(lambda m: m[1], url, count=1)


def redact_deep(value):
    """:func:`redact` applied to every string (keys too) of a JSON-like value: for file writers."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact_deep(k): redact_deep(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_deep(v) for v in value]
    return value


def escape(value: str) -> str:
    """Non-printable characters shown as Python escapes: the result is one line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in value)


def one_line(message: str, *, limit: int | None = None) -> str:
    """The form of every message we print: redacted, escaped, one line, optionally bounded."""
    out = escape(redact(str(message)))
    if limit is not None and len(out) > limit:
        out = out[:limit] + f"…({len(out) - limit} more characters)"
    return out


def shown(setting: str, value) -> str:
    """A value as a message may echo it: secrets hidden, credentials redacted, bounded."""
    if setting in SECRET_NAMES:
        return "<secret>"
    return one_line(repr(str(value) if not isinstance(value, (int, bool, list)) else value), limit=MAX_SHOWN)


def text(value: str, *, max_len: int = MAX_TEXT) -> str:
    """The check every string setting passes first, whatever its grammar."""
    if len(value) > max_len:
        raise ValueError(f"is {len(value)} characters long; at most {max_len} are allowed")
    if bad := next((c for c in value if not c.isprintable()), None):
        raise ValueError(
            f"contains the control character '{escape(bad)}'; a setting is one line of printable text"
        )
    if redact(value) != value:
        raise ValueError(
            "carries credentials in a URL (user:password@ or a token@); remove them and use a git "
            "credential helper or --go-netrc"
        )
    return value


def _full(regex: re.Pattern, value: str) -> bool:
    """Whole-string match: `$` would also match before a final newline."""
    return regex.fullmatch(value) is not None

# Docker/OCI image reference: [registry[:port]/]path[:tag][@digest]
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"sha256:[a-f0-9]{64}"
IMAGE_REF_RE = re.compile(
    rf"(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*(?::{_TAG})?(?:@{_DIGEST})?", re.ASCII
)
TAG_RE = re.compile(_TAG, re.ASCII)
VERSION_RE = re.compile(r"[0-9]{1,6}\.[0-9]{1,6}(?:\.[0-9]{1,6})?(?:-[0-9A-Za-z][0-9A-Za-z.]{0,40})?", re.ASCII)
GO_VERSION_RE = re.compile(r"1\.[0-9]{1,4}(?:\.[0-9]{1,4})?(?:(?:rc|beta)[0-9]{1,3})?", re.ASCII)
GIT_HASH_RE = re.compile(r"[0-9a-f]{7,40}", re.ASCII)
# `go install pkg@VERSION` of a tool: a semver tag.
TOOL_VERSION_RE = re.compile(r"v[0-9]{1,6}\.[0-9]{1,6}\.[0-9]{1,6}(?:-[0-9A-Za-z.-]{1,40})?", re.ASCII)
INT_TEXT_RE = re.compile(r"-?[0-9]{1,9}", re.ASCII)
RELEASE_CYCLES = ("alpha", "beta", "rc", "release")
PLATFORMS = ("linux/amd64", "linux/arm64")
_GO_PATTERN_RE = re.compile(r"[A-Za-z0-9.*?\[\]_/-]+", re.ASCII)


def image_ref(value: str) -> str:
    if not _full(IMAGE_REF_RE, value):
        raise ValueError(
            "not a valid image reference; use NAME[:TAG][@sha256:DIGEST], "
            "e.g. debian:bookworm-slim or registry.example/team/golang:1.26.2-bookworm"
        )
    return value


def image_tag(value: str) -> str:
    if not _full(TAG_RE, value):
        raise ValueError(
            "not a valid image tag; use letters, digits, '_', '.', '-' (max 128, "
            "not starting with '.' or '-')"
        )
    return value


def version(value: str) -> str:
    if not _full(VERSION_RE, value):
        raise ValueError("not a Flamenco version; use MAJOR.MINOR[.PATCH][-SUFFIX], e.g. 3.8.5 or 3.9-beta1")
    return value


def go_version(value: str) -> str:
    value = value.removeprefix("go")
    if not _full(GO_VERSION_RE, value):
        raise ValueError("not a Go version; use e.g. 1.26.2 (as in go.mod's 'go' or 'toolchain' line)")
    return value


def git_hash(value: str) -> str:
    if not _full(GIT_HASH_RE, value):
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
    text(value)  # control characters first: urlsplit silently drops newlines and tabs
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http", "ssh", "git") or not parts.hostname or " " in value:
        raise ValueError("not a git URL; use https://host/owner/repo.git (or ssh://)")
    return value


def _proxy_entry(entry: str) -> None:
    if entry in ("direct", "off"):
        return
    text(entry)
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
    text(value)
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
    text(value)
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
        if not _full(_GO_PATTERN_RE, p):
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
    text(value)
    for flag in value.split():
        if not flag.startswith("-"):
            raise ValueError(f"{flag!r} is not a flag; GOFLAGS holds flags like -mod=readonly only")
    return value


def regular_file(path: Path, what: str) -> Path:
    """An existing regular file: says which of missing / directory / device it is instead."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ValueError(f"file '{path}' does not exist; pass the path of {what}") from None
    except OSError as e:
        raise ValueError(f"cannot read '{path}' ({e.strerror}); check its permissions") from None
    if stat.S_ISDIR(mode):
        raise ValueError(f"'{path}' is a directory, not a file; pass the path of {what}")
    if not stat.S_ISREG(mode):
        raise ValueError(f"'{path}' is not a regular file (a device, pipe or socket); pass the path of {what}")
    return path


def ca_cert(path: Path) -> Path:
    what = "a PEM CA bundle, e.g. /etc/ssl/certs/ca-certificates.crt"
    regular_file(path, what)
    try:
        head = path.read_bytes()
    except OSError as e:
        raise ValueError(f"cannot read '{path}' ({e.strerror}); check its permissions") from None
    if b"-----BEGIN CERTIFICATE-----" not in head:
        raise ValueError(f"'{path}' is not a PEM certificate (no BEGIN CERTIFICATE block); convert it with `openssl x509 -inform der -in FILE -out FILE.pem`")
    return path


def netrc(path: Path) -> Path:
    return regular_file(path, "a netrc file (machine HOST login USER password TOKEN)")


def tool_version(value: str) -> str:
    """gotestsum / staticcheck: the module version `go install tool@VERSION` takes."""
    if not _full(TOOL_VERSION_RE, value):
        raise ValueError("not a Go module version; use a semver tag such as v1.13.0")
    return value


def integer_text(value: str) -> int | None:
    """An integer typed by a user, or None: ASCII digits only (`int()` takes '3_0' and '٣', and '²'.isdigit())."""
    return int(value) if _full(INT_TEXT_RE, value) else None


def whole_number(value: str) -> str:
    """An integer setting given as text (env, .env, flag): ASCII digits only, at most 9."""
    if not re.fullmatch(r"[0-9]{1,9}", value, re.ASCII):
        raise ValueError("must be a whole number written with the digits 0-9 only")
    return value


ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}", re.ASCII)
USERNAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,255}", re.ASCII)
TARGET_RE = re.compile(r"[a-z][a-z0-9-]{0,63}", re.ASCII)


def env_name(value: str) -> str:
    if not _full(ENV_NAME_RE, value):
        raise ValueError("not an environment variable name; use letters, digits and '_', e.g. REGISTRY_PASSWORD")
    return value


def username(value: str) -> str:
    if not _full(USERNAME_RE, value):
        raise ValueError("not a registry user name; use letters, digits and . _ @ + -")
    return value


def docker_target(value: str) -> str:
    if not _full(TARGET_RE, value):
        raise ValueError("not a Dockerfile.dev target; use a stage name such as manager, worker or reports")
    return value


def positive_seconds(value: int) -> int:
    if value < 10 or value > 6 * 3600:
        raise ValueError("must be between 10 and 21600 seconds")
    return value


def npm_registry(value: str) -> str:
    """A registry URL for yarn (a mirror): http(s) with a host, no credentials in it."""
    text(value)  # control characters first: urlsplit silently drops newlines and tabs
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname or value != value.strip():
        raise ValueError("not a registry URL; use your mirror's https://host/path/ or unset it for yarn's default")
    if parts.username or parts.password:
        raise ValueError("the URL carries credentials; drop them (a registry token belongs in a secret, not a URL)")
    return value
