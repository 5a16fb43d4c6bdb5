"""flamenco-pipeline: Flamenco's build as cached stages, for Dagger and plain Docker.

Packages, lowest first (tests/test_layout.py enforces the direction):

- ``pipeline.core``: the stage spec, settings, validation, source facts, plan (no engine, no click)
- ``pipeline.container_scripts``: stdlib scripts copied into containers (integration checks, add-on zip, image names)
- ``pipeline.reports``: build-report.json, its Markdown and SVG views, JUnit summaries
- ``pipeline.dagger_lane``: the Dagger module (``FlamencoPipeline``, the `dagger.mod` entry point)
- ``pipeline.docker_lane``: Dockerfile.dev and ``docker build``
- ``pipeline.ci``: the CI lines, the verdict, repro.json
- ``pipeline.cli``: ``flamenco-pipeline``, which depends on all of them

Kept import-light on purpose: the CLI imports this package first, and
`flamenco-pipeline --help` must start fast.
"""

__version__ = "0.1.0"
