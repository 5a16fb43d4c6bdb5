"""The container lane: tests that build and run the rendered Dockerfile.dev with a
real Docker engine (``/usr/bin/docker``, BuildKit via ``DOCKER_BUILDKIT=1``).

No image can be pulled on our machines, so :mod:`.standins` builds local
stand-ins for the official base images, and :mod:`.engine` holds the small
helpers that talk to the engine.
"""
