#!/usr/bin/env python3
"""Integration checks of a running Flamenco farm: one Manager and N Workers.

Standard library only, so it runs as a plain script in any Python 3.11+ image
(the Dagger lane copies this file into a checker container) and from the host
(the container lane runs it against compose.dev.yml):

    python3 integration.py --manager http://manager:8080/ --workers 3 \\
        --spec pkg/api/flamenco-openapi.yaml --db flamenco-manager.sqlite \\
        --stamp-version 3.9-beta1 --stamp-hash 5d33ae29f --stamp-release-cycle beta \\
        --junit integration.xml

Checks, one JUnit test case each, through Flamenco's documented endpoints:

  manager_healthy         GET /api/v3/version answers 200 within --timeout
  version                 it reports the stamp as Flamenco does (api_impl/meta.go
                          GetVersion): `shortversion` = the stamped version,
                          `git` = the stamped hash, `version` = the extended
                          version (appinfo.ExtendedVersion: the plain version for
                          release cycles release and rc, else "<version> (<hash>)")
  openapi_valid           GET /api/v3/openapi3.json is an OpenAPI 3 document
                          (structure: openapi 3.x, info, paths whose operations
                          have responses, internal $refs resolve)
  openapi_matches_source  ... with the same paths+methods, info.title and
                          info.version as the source's --spec file
  manager_configured      GET /api/v3/configuration: not the first run (no setup
                          assistant), job storage under --shared-storage, Shaman
                          enabled with --expect-shaman
  workers_signed_on       GET /api/v3/worker-mgt/workers lists N Workers in a
                          signed-on status within --timeout
  jobs_completed          --jobs (default: one per Worker) `echo-sleep-test` jobs,
                          submitted with POST /api/v3/jobs as Flamenco's
                          debug-job-echo.sh does, reach `completed` with every task
                          completed within --job-timeout, none faster than its
                          sleep; one JUnit case per job (`echo_sleep_job_N`) whose
                          time is the job's, from submission to completion
  tasks_spread            with several Workers, more than one of them ran tasks
                          (GET /api/v3/jobs/{id}/tasks: each task's worker)
  task_logs               each job's echo task log (GET /api/v3/tasks/{id}/log ->
                          its url) holds the echoed line, `echo: "<message>"`
  database_migrated       --db exists and goose_db_version has applied migrations
  web_ui                  GET /app/ serves an HTML page

Reading --spec: a `.json` file is read as JSON. For YAML (Flamenco's
`pkg/api/flamenco-openapi.yaml`) PyYAML is used when importable; otherwise a
JSON twin next to it (same name, `.json`) is read; otherwise the check fails
and says to install PyYAML.

Prints `integration: N workers up and signed on in X.Xs; J echo-sleep jobs
completed in Y.Ys` (time from --started-at, default the script's start, until
all N were signed on; then from the first submission until the last job
completed), writes it to --timing if given. Exit codes: 0 all checks passed, 1 a check failed,
2 bad arguments (one line naming the option).
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import sqlite3
import sys
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

VERSION_PATH = "/api/v3/version"
CONFIGURATION_PATH = "/api/v3/configuration"
JOBS_PATH = "/api/v3/jobs"
ECHO_SLEEP_JOB_TYPE = "echo-sleep-test"  # internal/manager/job_compilers/scripts/echo_sleep_test.js
OPENAPI_PATH = "/api/v3/openapi3.json"
WORKERS_PATH = "/api/v3/worker-mgt/workers"
WEB_UI_PATH = "/app/"
# Worker statuses of a Worker that has signed on (Flamenco's WorkerStatus enum
# minus `offline` and `error`): `starting` right after sign-on, then `awake`.
SIGNED_ON = ("starting", "awake", "asleep", "testing")
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
CHECKS = (
    "manager_healthy",
    "version",
    "openapi_valid",
    "openapi_matches_source",
    "manager_configured",
    "workers_signed_on",
    "jobs_completed",
    "tasks_spread",
    "task_logs",
    "database_migrated",
    "web_ui",
)


class UsageError(Exception):
    """Bad arguments: one line, exit 2."""


@dataclass
class Config:
    manager: str
    workers: int
    spec: Path
    db: Path
    stamp_version: str
    stamp_hash: str
    stamp_release_cycle: str
    junit: Path | None = None
    timing: Path | None = None
    timeout: float = 90.0
    started_at: float | None = None  # epoch seconds; None = when the checks start
    poll: float = 0.5
    jobs: int | None = None  # echo-sleep jobs to submit; None = one per worker
    job_sleep: int = 1  # sleep_duration_seconds of each sleep task
    job_sleep_repeats: int = 3  # sleep tasks per job (after its echo task)
    job_timeout: float = 180.0  # seconds for every job to complete
    shared_storage: str | None = None  # expected shared storage path (None: not checked)
    expect_shaman: bool = False

    @property
    def job_count(self) -> int:
        return self.workers if self.jobs is None else self.jobs


@dataclass
class Result:
    name: str
    ok: bool | None  # None: not checked (skipped)
    message: str
    seconds: float = 0.0
    details: str = ""


@dataclass
class Farm:
    """What the checks learn along the way (for the timing line)."""

    signed_on_after: float | None = None
    signed_on: int = 0
    results: list[Result] = field(default_factory=list)
    jobs: list[JobRun] = field(default_factory=list)
    jobs_after: float | None = None  # first submission -> last completion


@dataclass
class JobRun:
    """One submitted echo-sleep job and what became of it."""

    n: int
    message: str
    id: str = ""
    submitted: float = 0.0  # monotonic
    completed: float | None = None  # monotonic, when seen completed
    status: str = ""
    tasks: list = field(default_factory=list)  # the last JobTasksSummary.tasks

    @property
    def seconds(self) -> float | None:
        return None if self.completed is None else self.completed - self.submitted


# --------------------------------------------------------------------------- #
# HTTP


def _url(base: str, path: str) -> str:
    return base.rstrip("/") + path


def http_get(base: str, path: str, timeout: float = 5.0) -> tuple[int, str, bytes]:
    """(status, content type, body); HTTP errors are answers, not exceptions."""
    req = urllib.request.Request(_url(base, path), headers={"Accept": "application/json, text/html"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", "") if e.headers else "", e.read()


def http_post_json(base: str, path: str, payload, timeout: float = 10.0) -> tuple[int, bytes]:
    data = json.dumps(payload).encode()
    req = urllib.request.Request(_url(base, path), data=data, method="POST",
                                 headers={"Content-Type": "application/json", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def get_json(base: str, path: str):
    status, _ctype, body = http_get(base, path)
    if status != 200:
        raise CheckFailed(f"GET {path} answered {status}: {_snippet(body)}")
    try:
        return json.loads(body)
    except ValueError as e:
        raise CheckFailed(f"GET {path} did not return JSON ({e}): {_snippet(body)}") from None


def _snippet(body: bytes, n: int = 120) -> str:
    text = body.decode("utf-8", "replace").strip().replace("\n", " ")
    return text[:n] + ("…" if len(text) > n else "") or "(empty body)"


class CheckFailed(Exception):
    """A check's readable failure message."""


# --------------------------------------------------------------------------- #
# version

# Release cycles whose extended version is the plain version (Flamenco's
# internal/appinfo/appinfo.go: releaseCycleRelease, releaseCycleReleaseCandidate).
PLAIN_VERSION_CYCLES = ("release", "rc")
VERSION_FIELDS = ("version", "shortversion", "name", "git")  # FlamencoVersion's required fields


def extended_version(version: str, git_hash: str, release_cycle: str) -> str:
    """appinfo.ExtendedVersion(): what /api/v3/version reports as `version`."""
    return version if release_cycle in PLAIN_VERSION_CYCLES else f"{version} ({git_hash})"


def version_problems(answer, version: str, git_hash: str, release_cycle: str) -> list[str]:
    """How a /api/v3/version answer differs from what a build with this stamp answers."""
    if not isinstance(answer, dict):
        return [f"the answer is a {type(answer).__name__}, not an object"]
    missing = [k for k in VERSION_FIELDS if not isinstance(answer.get(k), str)]
    if missing:
        return [f"no string field {', '.join(missing)} (got {', '.join(sorted(answer)) or 'no fields'})"]
    want = {"version": extended_version(version, git_hash, release_cycle), "shortversion": version, "git": git_hash}
    return [f"{k} {answer[k]!r}, expected {w!r}" for k, w in want.items() if answer[k] != w]


# --------------------------------------------------------------------------- #
# OpenAPI


def load_spec(path: Path) -> dict:
    """The source OpenAPI document (see the module doc for how YAML is read)."""
    if path.suffix == ".json":
        return json.loads(path.read_text())
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        twin = path.with_suffix(".json")
        if twin.is_file():
            return json.loads(twin.read_text())
        raise CheckFailed(
            f"cannot read {path.name}: PyYAML is not installed and there is no JSON twin {twin.name}; "
            "install PyYAML or pass a .json --spec"
        ) from None
    return yaml.safe_load(path.read_text())


def openapi_problems(doc) -> list[str]:
    """Structural problems that keep `doc` from being an OpenAPI 3 document."""
    if not isinstance(doc, dict):
        return [f"the document is a {type(doc).__name__}, not an object"]
    problems = []
    version = str(doc.get("openapi", ""))
    if not re.fullmatch(r"3\.\d+\.\d+", version):
        problems.append(f"'openapi' is {doc.get('openapi')!r}, want 3.x.y")
    info = doc.get("info")
    if not isinstance(info, dict):
        problems.append("no 'info' object")
    else:
        problems += [f"info.{k} is missing or empty" for k in ("title", "version") if not str(info.get(k) or "").strip()]
    paths = doc.get("paths")
    if not isinstance(paths, dict):
        return problems + ["no 'paths' object"]
    operations = 0
    for path, item in paths.items():
        if not str(path).startswith("/"):
            problems.append(f"path {path!r} does not start with '/'")
        if not isinstance(item, dict):
            problems.append(f"paths.{path} is not an object")
            continue
        for method, op in item.items():
            if method not in HTTP_METHODS:
                continue
            operations += 1
            where = f"{method.upper()} {path}"
            responses = op.get("responses") if isinstance(op, dict) else None
            if not isinstance(responses, dict) or not responses:
                problems.append(f"{where} has no 'responses'")
                continue
            for code, resp in responses.items():
                if not re.fullmatch(r"default|[1-5](?:\d\d|XX)", str(code)):
                    problems.append(f"{where}: response code {code!r} is not an HTTP status")
                elif not isinstance(resp, dict) or not ("description" in resp or "$ref" in resp):
                    problems.append(f"{where}: response {code} has no 'description'")
    if operations == 0:
        problems.append("'paths' has no operations")
    problems += [f"$ref {ref!r} does not resolve" for ref in _dangling_refs(doc)]
    return problems


def _dangling_refs(doc: dict) -> list[str]:
    refs: set[str] = set()

    def walk(node):
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/"):
                refs.add(ref)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(doc)
    bad = []
    for ref in sorted(refs):
        node = doc
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                bad.append(ref)
                break
            node = node[part]
    return bad


def operations(doc: dict) -> set[str]:
    """'METHOD /path' for every operation."""
    return {
        f"{m.upper()} {p}"
        for p, item in (doc.get("paths") or {}).items() if isinstance(item, dict)
        for m in item if m in HTTP_METHODS
    }


def spec_differences(served: dict, source: dict, source_name: str) -> list[str]:
    diffs = []
    extra = sorted(operations(served) - operations(source))
    missing = sorted(operations(source) - operations(served))
    if extra:
        diffs.append(f"served but not in {source_name}: {', '.join(extra)}")
    if missing:
        diffs.append(f"in {source_name} but not served: {', '.join(missing)}")
    for key in ("title", "version"):
        a, b = (served.get("info") or {}).get(key), (source.get("info") or {}).get(key)
        if str(a) != str(b):
            diffs.append(f"info.{key} is {a!r}, {source_name} says {b!r}")
    return diffs


# --------------------------------------------------------------------------- #
# the checks


class Checker:
    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.t0 = time.monotonic()
        self.wall0 = time.time()
        # Both waits share one budget, counted from the checks' start.
        self.deadline = self.t0 + cfg.timeout
        self.farm = Farm()
        self.healthy = False
        self.served_spec: dict | None = None

    def run(self) -> Farm:
        for name in CHECKS:
            self.farm.results.append(self._run_one(name))
            if name == "jobs_completed":
                self.farm.results += self.job_results()
        return self.farm

    def _passed(self, name: str) -> bool:
        return any(r.name == name and r.ok for r in self.farm.results)

    def _run_one(self, name: str) -> Result:
        needs_manager = name != "database_migrated" and name != "manager_healthy"
        if needs_manager and not self.healthy:
            return Result(name, None, f"not checked: the manager at {self.cfg.manager} never became healthy")
        if name == "openapi_matches_source" and self.served_spec is None:
            return Result(name, None, "not checked: the served OpenAPI document could not be read")
        if name == "jobs_completed" and not self._passed("workers_signed_on"):
            return Result(name, None, "not checked: the workers did not all sign on")
        if name in ("tasks_spread", "task_logs") and not self._passed("jobs_completed"):
            return Result(name, None, "not checked: the jobs did not all complete")
        start = time.monotonic()
        try:
            message, details = getattr(self, f"check_{name}")()
            return Result(name, True, message, time.monotonic() - start, details)
        except CheckFailed as e:
            return Result(name, False, str(e), time.monotonic() - start)
        except Exception as e:  # noqa: BLE001 - a crash in one check is that check's failure
            return Result(name, False, f"{type(e).__name__}: {e}", time.monotonic() - start)

    # -- each returns (message, details) or raises CheckFailed
    def check_manager_healthy(self):
        last = "no answer yet"
        attempts = 0
        while True:
            attempts += 1
            try:
                status, _ctype, body = http_get(self.cfg.manager, VERSION_PATH, timeout=3)
                if status == 200:
                    self.healthy = True
                    return f"GET {VERSION_PATH} answered 200 after {time.monotonic() - self.t0:.1f}s", ""
                last = f"status {status}: {_snippet(body)}"
            except (urllib.error.URLError, OSError, socket.timeout) as e:
                last = str(getattr(e, "reason", e))
            if time.monotonic() >= self.deadline:
                raise CheckFailed(
                    f"the manager at {self.cfg.manager} did not answer GET {VERSION_PATH} with 200 within "
                    f"{self.cfg.timeout:g}s ({attempts} attempts); last: {last}"
                )
            time.sleep(self.cfg.poll)

    def check_version(self):
        v = get_json(self.cfg.manager, VERSION_PATH)
        cfg = self.cfg
        wrong = version_problems(v, cfg.stamp_version, cfg.stamp_hash, cfg.stamp_release_cycle)
        if wrong:
            raise CheckFailed(f"the manager reports {'; '.join(wrong)} (release cycle {cfg.stamp_release_cycle})")
        return f"{v['name']} {v['version']} (shortversion {v['shortversion']}, git {v['git']})", json.dumps(v)

    def check_openapi_valid(self):
        doc = get_json(self.cfg.manager, OPENAPI_PATH)
        problems = openapi_problems(doc)
        if problems:
            raise CheckFailed(f"GET {OPENAPI_PATH} is not a valid OpenAPI 3 document: {'; '.join(problems)}")
        self.served_spec = doc
        return f"OpenAPI {doc['openapi']}, {len(operations(doc))} operations", ""

    def check_openapi_matches_source(self):
        source = load_spec(self.cfg.spec)
        diffs = spec_differences(self.served_spec, source, self.cfg.spec.name)
        if diffs:
            raise CheckFailed(f"GET {OPENAPI_PATH} differs from the source spec: {'; '.join(diffs)}")
        return f"same {len(operations(source))} operations and info as {self.cfg.spec.name}", ""

    def check_workers_signed_on(self):
        n = self.cfg.workers
        workers: list = []
        while True:
            listed = get_json(self.cfg.manager, WORKERS_PATH)
            workers = listed.get("workers", []) if isinstance(listed, dict) else []
            on = [w for w in workers if w.get("status") in SIGNED_ON]
            self.farm.signed_on = len(on)
            if len(on) == n:
                self.farm.signed_on_after = time.time() - (self.cfg.started_at or self.wall0)
                names = ", ".join(sorted(str(w.get("name")) for w in on))
                return f"{n} worker(s) signed on: {names}", json.dumps(workers)
            if len(on) > n or time.monotonic() >= self.deadline:
                break
            time.sleep(self.cfg.poll)
        seen = ", ".join(f"{w.get('name')} {w.get('status')}" for w in workers) or "none"
        when = "" if len(on) > n else f" within {self.cfg.timeout:g}s"
        raise CheckFailed(
            f"expected {n} worker(s) registered and signed on{when}, the manager lists "
            f"{len(on)} signed on ({len(workers)} registered: {seen})"
        )

    def check_manager_configured(self):
        conf = get_json(self.cfg.manager, CONFIGURATION_PATH)
        if not isinstance(conf, dict):
            raise CheckFailed(f"GET {CONFIGURATION_PATH} returned {type(conf).__name__}, not an object")
        problems = []
        if conf.get("isFirstRun") is not False:
            problems.append("the manager is in first-run mode (isFirstRun true): the web UI shows the setup "
                            "assistant; its flamenco-manager.yaml is missing or has no shared_storage_path")
        storage = str(conf.get("storageLocation") or "")
        want = self.cfg.shared_storage
        if want and not (storage == want or storage.startswith(want.rstrip("/") + "/")):
            problems.append(f"job storage is {storage!r}, not under the shared storage {want!r}")
        if self.cfg.expect_shaman and conf.get("shamanEnabled") is not True:
            problems.append("Shaman is not enabled")
        if problems:
            raise CheckFailed("; ".join(problems))
        return (f"configured: job storage {storage}, Shaman {'on' if conf.get('shamanEnabled') else 'off'}",
                json.dumps(conf))

    # -- jobs
    def _submit(self, job: JobRun) -> None:
        body = {  # the request body of Flamenco's debug-job-echo.sh
            "metadata": {"project": "flamenco-pipeline integration test"},
            "name": f"flamenco-pipeline echo-sleep {job.n}",
            "priority": 50,
            "settings": {"message": job.message, "sleep_duration_seconds": self.cfg.job_sleep,
                         "sleep_repeats": self.cfg.job_sleep_repeats},
            "type": ECHO_SLEEP_JOB_TYPE,
            "submitter_platform": "manager",
        }
        job.submitted = time.monotonic()
        status, raw = http_post_json(self.cfg.manager, JOBS_PATH, body)
        if status != 200:
            raise CheckFailed(f"POST {JOBS_PATH} ({ECHO_SLEEP_JOB_TYPE}) answered {status}: {_snippet(raw)}")
        try:
            job.id = str(json.loads(raw)["id"])
        except (ValueError, KeyError, TypeError):
            raise CheckFailed(f"POST {JOBS_PATH} did not return a job with an id: {_snippet(raw)}") from None
        job.status = "submitted"

    def _refresh(self, job: JobRun) -> None:
        got = get_json(self.cfg.manager, f"{JOBS_PATH}/{job.id}")
        job.status = str(got.get("status", "")) if isinstance(got, dict) else ""
        listed = get_json(self.cfg.manager, f"{JOBS_PATH}/{job.id}/tasks")
        job.tasks = listed.get("tasks") or [] if isinstance(listed, dict) else []
        if job.completed is None and job.status == "completed" and job.tasks and all(
                t.get("status") == "completed" for t in job.tasks):
            job.completed = time.monotonic()

    def check_jobs_completed(self):
        run_id = f"{int(self.wall0)}-{id(self) % 10000}"
        jobs = [JobRun(n, f"flamenco-pipeline says hello from job {n} ({run_id})")
                for n in range(1, self.cfg.job_count + 1)]
        self.farm.jobs = jobs
        for job in jobs:
            self._submit(job)
        first = jobs[0].submitted if jobs else time.monotonic()
        deadline = first + self.cfg.job_timeout
        last_error = ""
        while True:
            for job in jobs:
                if job.completed is None:
                    try:
                        self._refresh(job)
                    except (CheckFailed, OSError, ValueError) as e:  # e.g. 503 "database busy": ask again
                        last_error = f"; last error: {e}"
            failed = [j for j in jobs if j.status in ("failed", "canceled")
                      or any(t.get("status") in ("failed", "canceled") for t in j.tasks)]
            if failed:
                raise CheckFailed("; ".join(f"job {j.n} is {j.status}: {_task_states(j.tasks)}" for j in failed))
            if all(j.completed is not None for j in jobs) or time.monotonic() >= deadline:
                break
            time.sleep(self.cfg.poll)
        late = [j for j in jobs if j.completed is None]
        if late:
            raise CheckFailed(
                f"{len(late)} of {len(jobs)} {ECHO_SLEEP_JOB_TYPE} job(s) not completed within "
                f"{self.cfg.job_timeout:g}s: " + "; ".join(f"job {j.n} {j.status}: {_task_states(j.tasks)}" for j in late)
                + last_error)
        too_fast = [j for j in jobs if j.seconds < self.cfg.job_sleep]
        if too_fast and self.cfg.job_sleep_repeats > 0:
            raise CheckFailed(
                "; ".join(f"job {j.n} completed in {j.seconds:.2f}s, sooner than its {self.cfg.job_sleep}s sleep "
                          "task can run" for j in too_fast) + ": a worker reported tasks completed without running them")
        self.farm.jobs_after = max(j.completed for j in jobs) - first
        tasks = sum(len(j.tasks) for j in jobs)
        return (f"{len(jobs)} {ECHO_SLEEP_JOB_TYPE} job(s), {tasks} tasks, all completed in {self.farm.jobs_after:.1f}s",
                "\n".join(f"job {j.n} {j.id}: {j.seconds:.1f}s" for j in jobs))

    def job_results(self) -> list[Result]:
        """One result per submitted job; its time is the job's, from submission to completion."""
        out = []
        for j in self.farm.jobs:
            name = f"echo_sleep_job_{j.n}"
            if j.completed is None:
                out.append(Result(name, False, f"job {j.id or '(not submitted)'} is {j.status or 'unknown'}: "
                                  f"{_task_states(j.tasks)}"))
                continue
            workers = sorted({_task_worker(t) for t in j.tasks} - {""})
            out.append(Result(name, True, f"job {j.id}: {len(j.tasks)} tasks completed in {j.seconds:.1f}s "
                              f"on {len(workers)} worker(s)", j.seconds, _task_states(j.tasks)))
        return out

    def check_tasks_spread(self):
        per_worker: dict[str, int] = {}
        for j in self.farm.jobs:
            for t in j.tasks:
                w = _task_worker(t)
                per_worker[w or "(no worker)"] = per_worker.get(w or "(no worker)", 0) + 1
        names = self._worker_names()
        shown = ", ".join(f"{names.get(w, w)}: {n}" for w, n in sorted(per_worker.items()))
        if self.cfg.workers > 1 and len(per_worker.keys() - {"(no worker)"}) < 2:
            raise CheckFailed(f"with {self.cfg.workers} workers, only one ran tasks ({shown})")
        return f"tasks per worker: {shown}", ""

    def _worker_names(self) -> dict[str, str]:
        try:
            listed = get_json(self.cfg.manager, WORKERS_PATH)
            return {str(w.get("id")): str(w.get("name")) for w in listed.get("workers", [])}
        except (CheckFailed, OSError, AttributeError):
            return {}

    def check_task_logs(self):
        missing = []
        for j in self.farm.jobs:
            echo = next((t for t in j.tasks if t.get("name") == "echo"), None)
            if echo is None:
                missing.append(f"job {j.n} has no echo task")
                continue
            text = self._task_log(str(echo.get("id")))
            line = f"echo: {json.dumps(j.message)}"  # Flamenco: fmt.Sprintf("echo: %q", message)
            if line not in text:
                missing.append(f"job {j.n}: the echo task's log lacks {line!r} (log: {_snippet(text.encode(), 200)})")
        if missing:
            raise CheckFailed("; ".join(missing))
        return f"every echo task's log holds its message ({len(self.farm.jobs)} job(s))", ""

    def _task_log(self, task_id: str) -> str:
        """The whole task log: GET /api/v3/tasks/{id}/log gives its URL (204: no log yet)."""
        status, _ctype, body = http_get(self.cfg.manager, f"/api/v3/tasks/{task_id}/log")
        if status == 204:
            return ""
        if status != 200:
            raise CheckFailed(f"GET /api/v3/tasks/{task_id}/log answered {status}: {_snippet(body)}")
        url = str(json.loads(body).get("url") or "")
        if not url.startswith("/"):
            raise CheckFailed(f"GET /api/v3/tasks/{task_id}/log gave no usable url: {_snippet(body)}")
        status, _ctype, body = http_get(self.cfg.manager, url)
        if status != 200:
            raise CheckFailed(f"GET {url} (task log) answered {status}")
        return body.decode("utf-8", "replace")

    def check_database_migrated(self):
        db = self.cfg.db
        if not db.is_file():
            raise CheckFailed(f"the manager's database {db} does not exist")
        try:
            con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        except sqlite3.Error as e:
            raise CheckFailed(f"cannot open {db}: {e}") from None
        try:
            tables = {n for (n,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "goose_db_version" not in tables:
                raise CheckFailed(f"{db.name} has no goose_db_version table: no migrations ran (tables: {', '.join(sorted(tables)) or 'none'})")
            applied = [v for (v,) in con.execute(
                "SELECT version_id FROM goose_db_version WHERE is_applied AND version_id > 0 ORDER BY id")]
        except sqlite3.DatabaseError as e:
            raise CheckFailed(f"{db.name} is not a readable SQLite database: {e}") from None
        finally:
            con.close()
        if not applied:
            raise CheckFailed(f"{db.name}: goose_db_version records no applied migration")
        app_tables = sorted(t for t in tables if t not in ("goose_db_version", "sqlite_sequence"))
        return (f"{len(applied)} migration(s) applied, latest version {max(applied)}",
                f"tables: {', '.join(app_tables)}")

    def check_web_ui(self):
        status, ctype, body = http_get(self.cfg.manager, WEB_UI_PATH)
        if status != 200:
            raise CheckFailed(f"GET {WEB_UI_PATH} answered {status} ({ctype or 'no content type'}): {_snippet(body)}")
        head = body[:2048].decode("utf-8", "replace").lower()
        if "text/html" not in ctype or not ("<html" in head or "<!doctype html" in head):
            raise CheckFailed(f"GET {WEB_UI_PATH} is not an HTML page ({ctype or 'no content type'}): {_snippet(body)}")
        title = re.search(r"<title>(.*?)</title>", body.decode("utf-8", "replace"), re.I | re.S)
        return f"HTML page{f' {title.group(1).strip()!r}' if title else ''}, {len(body)} bytes", ""


def _task_worker(task: dict) -> str:
    return str((task.get("worker") or {}).get("id") or "")


def _task_states(tasks: list) -> str:
    if not tasks:
        return "no tasks listed"
    return ", ".join(f"{t.get('name')} {t.get('status')}" for t in tasks)


def timing_line(cfg: Config, farm: Farm) -> str:
    if farm.signed_on_after is not None:
        line = f"integration: {cfg.workers} workers up and signed on in {farm.signed_on_after:.1f}s"
    else:
        line = f"integration: {farm.signed_on} of {cfg.workers} workers signed on (gave up after {cfg.timeout:g}s)"
    if farm.jobs_after is not None:
        line += f"; {len(farm.jobs)} echo-sleep jobs completed in {farm.jobs_after:.1f}s"
    elif farm.jobs:
        done = sum(j.completed is not None for j in farm.jobs)
        line += f"; {done} of {len(farm.jobs)} echo-sleep jobs completed"
    return line


# --------------------------------------------------------------------------- #
# JUnit


def junit_xml(cfg: Config, results: list[Result], suite: str = "flamenco-integration") -> str:
    failures = sum(r.ok is False for r in results)
    skipped = sum(r.ok is None for r in results)
    total = sum(r.seconds for r in results)
    attrs = {"name": suite, "tests": str(len(results)), "failures": str(failures), "errors": "0",
             "skipped": str(skipped), "time": f"{total:.3f}"}
    root = ET.Element("testsuites", attrs)
    ts = ET.SubElement(root, "testsuite", attrs | {"timestamp": time.strftime("%Y-%m-%dT%H:%M:%S")})
    props = ET.SubElement(ts, "properties")
    for k, v in (("manager", cfg.manager), ("workers", str(cfg.workers)), ("spec", str(cfg.spec)),
                 ("stamp_version", cfg.stamp_version), ("stamp_hash", cfg.stamp_hash),
                 ("stamp_release_cycle", cfg.stamp_release_cycle)):
        ET.SubElement(props, "property", name=k, value=v)
    for r in results:
        case = ET.SubElement(ts, "testcase", classname="flamenco.integration", name=r.name, time=f"{r.seconds:.3f}")
        if r.ok is False:
            ET.SubElement(case, "failure", message=r.message, type="IntegrationCheckFailed").text = r.message
        elif r.ok is None:
            ET.SubElement(case, "skipped", message=r.message)
        else:
            ET.SubElement(case, "system-out").text = r.message + (f"\n{r.details}" if r.details else "")
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


# --------------------------------------------------------------------------- #
# command line


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse's default prints the usage too)
        raise UsageError(message)


def parse_args(argv: list[str] | None = None) -> Config:
    p = _Parser(prog="integration.py", description="Integration checks of a running Flamenco farm.")
    p.add_argument("--manager", required=True, help="Manager base URL, e.g. http://manager:8080/")
    p.add_argument("--workers", required=True, type=int, help="how many Workers must sign on (at least 1)")
    p.add_argument("--spec", required=True, type=Path, help="the source's pkg/api/flamenco-openapi.yaml (or .json)")
    p.add_argument("--db", required=True, type=Path, help="the Manager's database file (flamenco-manager.sqlite)")
    p.add_argument("--stamp-version", required=True, help="version the binaries were built with")
    p.add_argument("--stamp-hash", required=True, help="Git hash the binaries were built with")
    p.add_argument("--stamp-release-cycle", required=True,
                   help="release cycle the binaries were built with (alpha, beta, rc, release)")
    p.add_argument("--junit", type=Path, help="write JUnit XML here")
    p.add_argument("--timing", type=Path, help="write the timing line here")
    p.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for the Manager and the Workers")
    p.add_argument("--started-at", type=float, help="epoch seconds the farm started (timing); default: now")
    p.add_argument("--jobs", type=int, help="echo-sleep-test jobs to submit (default: one per worker)")
    p.add_argument("--job-sleep", type=int, default=1, help="sleep_duration_seconds of each sleep task (default 1)")
    p.add_argument("--job-sleep-repeats", type=int, default=3, help="sleep tasks per job (default 3)")
    p.add_argument("--job-timeout", type=float, default=180.0, help="seconds for every job to complete (default 180)")
    p.add_argument("--shared-storage", help="the farm's shared storage path; job storage must be under it")
    p.add_argument("--expect-shaman", action="store_true", help="fail unless the manager reports Shaman enabled")
    a = p.parse_args(argv)
    if not re.fullmatch(r"https?://[^/\s]+/?", a.manager):
        raise UsageError(f"invalid option --manager={a.manager!r}: want a base URL such as http://manager:8080/")
    if a.workers < 1:
        raise UsageError(f"invalid option --workers={a.workers}: must be at least 1")
    if not a.spec.is_file():
        raise UsageError(f"invalid option --spec={str(a.spec)!r}: no such file; pass the source's pkg/api/flamenco-openapi.yaml")
    if not a.timeout > 0:
        raise UsageError(f"invalid option --timeout={a.timeout:g}: must be more than 0 seconds")
    if not a.job_timeout > 0:
        raise UsageError(f"invalid option --job-timeout={a.job_timeout:g}: must be more than 0 seconds")
    if a.jobs is not None and not 1 <= a.jobs <= 100:
        raise UsageError(f"invalid option --jobs={a.jobs}: must be between 1 and 100")
    for opt, v in (("--job-sleep", a.job_sleep), ("--job-sleep-repeats", a.job_sleep_repeats)):
        if not 0 <= v <= 600:
            raise UsageError(f"invalid option {opt}={v}: must be between 0 and 600")
    if a.shared_storage is not None and not a.shared_storage.startswith("/"):
        raise UsageError(f"invalid option --shared-storage={a.shared_storage!r}: must be an absolute path")
    for opt in ("stamp_version", "stamp_hash", "stamp_release_cycle"):
        if not getattr(a, opt).strip():
            raise UsageError(f"invalid option --{opt.replace('_', '-')}='': must not be empty")
    return Config(manager=a.manager, workers=a.workers, spec=a.spec, db=a.db, stamp_version=a.stamp_version,
                  stamp_hash=a.stamp_hash, stamp_release_cycle=a.stamp_release_cycle, junit=a.junit,
                  timing=a.timing, timeout=a.timeout, started_at=a.started_at, jobs=a.jobs, job_sleep=a.job_sleep,
                  job_sleep_repeats=a.job_sleep_repeats, job_timeout=a.job_timeout,
                  shared_storage=a.shared_storage, expect_shaman=a.expect_shaman)


def run(cfg: Config, out=sys.stdout) -> int:
    farm = Checker(cfg).run()
    for r in farm.results:
        mark = {True: "ok  ", False: "FAIL", None: "skip"}[r.ok]
        print(f"{mark} {r.name}: {r.message}", file=out)
    line = timing_line(cfg, farm)
    print(line, file=out, flush=True)
    if cfg.timing:
        cfg.timing.parent.mkdir(parents=True, exist_ok=True)
        cfg.timing.write_text(line + "\n")
    if cfg.junit:
        cfg.junit.parent.mkdir(parents=True, exist_ok=True)
        cfg.junit.write_text(junit_xml(cfg, farm.results))
    return 0 if all(r.ok for r in farm.results) else 1


def main(argv: list[str] | None = None) -> int:
    try:
        cfg = parse_args(argv)
    except UsageError as e:
        print(f"integration: error: {e}", file=sys.stderr)
        return 2
    return run(cfg)


if __name__ == "__main__":
    sys.exit(main())
