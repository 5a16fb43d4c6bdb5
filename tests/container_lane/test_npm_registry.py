"""--npm-registry: a mirror serves a yarn.lock written against yarn's default registry.

Flamenco's web/app/yarn.lock pins every package as `resolved "<yarn's default
registry>/<name>/-/<name>-<version>.tgz#<sha1>"` (203 entries). This test writes
the fixture's lockfile the same way, with yarn's default registry read from the
stand-in image's own yarn at run time (no host name in the repository), and
points --npm-registry at npm's built-in default, read from the host's npm. yarn 1
fetches lockfile URLs on its default registry from the configured one.

The yarn cache volume may already hold the package, so this test proves that the
setting reaches yarn's configuration in the build; the fetch itself through a
mirror was seen on real Flamenco's 203-package lockfile (closing note of issue 10).
"""

from __future__ import annotations

import subprocess
import uuid

import pytest

from pipeline.docker_lane.build import docker_binary


def _registry(cmd: list[str]) -> str:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout.strip()
    assert out.startswith("https://"), out
    return out.rstrip("/")


@pytest.mark.timeout(600)
def test_a_mirror_serves_a_lockfile_pinned_to_yarns_default_registry(lane, fixture_copy):
    yarn_default = _registry([docker_binary(), "run", "--rm", lane.standins["node"], "yarn", "config", "get", "registry"])
    mirror = _registry(["npm", "config", "get", "registry"])
    src = fixture_copy("npm-registry")
    lock = src / "web/app/yarn.lock"
    text = lock.read_text()
    pinned = '  version "7.0.0"\n'
    assert pinned in text
    lock.write_text(text.replace(pinned, pinned + f'  resolved "{yarn_default}/is-number/-/is-number-7.0.0.tgz"\n')
                    + f"# run {uuid.uuid4()}\n")  # a new input: the yarn install step runs, not a cache hit

    r = lane.build("web-deps", src, settings=lane.settings(npm_registry=mirror + "/"), label="web-deps via mirror")
    r.check()
    assert f"effective npm registry: {mirror}/" in r.output
