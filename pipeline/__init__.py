"""flamenco-pipeline: Flamenco's build as cached stages, for Dagger and plain Docker.

Packages, lowest first: each imports only those above it (tests/test_layout.py checks).

- ``pipeline.core``: the stage spec, settings, validation, source facts, plan (no engine, no click)
- ``pipeline.container_scripts``: stdlib scripts copied into containers (integration checks, add-on zip, image names)
- ``pipeline.docker_lane``: Dockerfile.dev, ``docker build``, BuildKit's log and progress
- ``pipeline.reports``: build-report.json (schema, both lanes' adapters), its Markdown and SVG views, JUnit summaries
- ``pipeline.ci``: the CI lines, the verdict, repro.json
- ``pipeline.dagger_lane``: the Dagger module (``FlamencoPipeline``, the `dagger.mod` entry point)
- ``pipeline.cli``: ``flamenco-pipeline``, which depends on all of them

Kept import-light on purpose: the CLI imports this package first, and
`flamenco-pipeline --help` must start fast.
"""

__version__ = "0.1.0"
