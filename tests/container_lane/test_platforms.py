"""The Docker lane refuses a platform its images lack, like the Dagger lane (issue 13).

The stand-in base images are single-arch (the machine's, linux/amd64 here): asking for
linux/arm64 must stop before any build with one line naming the image, instead of
silently building amd64 images as before.
"""

from __future__ import annotations

import pytest

from pipeline.docker_lane.build import local_image_platform

from .test_cli_docker import _cli


@pytest.mark.timeout(300)
def test_arm64_with_single_arch_images_is_refused_naming_the_image(lane, fixture_copy, tmp_path):
    native = local_image_platform(lane.standins["runtime"])
    assert native == "linux/amd64", f"the stand-ins are built for the machine: {native}"
    export = tmp_path / "dist"
    r = _cli(lane, fixture_copy("platforms"), export, "--platforms", "linux/arm64", "--target", "manager")
    assert r.returncode == 2, r.stdout + r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert line == (f"flamenco-pipeline: error: invalid setting runtime_image='{lane.standins['runtime']}': "
                    "has no linux/arm64 variant (the local image is linux/amd64, for stage manager); pass a "
                    "linux/arm64 or multi-platform image or drop linux/arm64 from --platforms")
    assert not (export / "logs").exists(), "refused before any docker build ran"


@pytest.mark.timeout(300)
def test_two_platforms_are_refused_in_the_docker_lane(lane, fixture_copy, tmp_path):
    r = _cli(lane, fixture_copy("platforms2"), tmp_path / "dist", "--platforms", "linux/amd64,linux/arm64")
    assert r.returncode == 2, r.stdout + r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith("flamenco-pipeline: error: invalid setting platforms='linux/amd64,linux/arm64': "
                           "the Docker lane builds one platform per run")


def test_the_build_command_names_the_platform(lane):
    from pipeline.docker_lane.build import DockerBuild

    cmd = DockerBuild(context=lane.log_dir, target="manager", args={}, platform="linux/amd64").command()
    assert cmd[cmd.index("--platform") + 1] == "linux/amd64"
