"""flamenco-pipeline: Flamenco's build as cached stages, for Dagger and plain Docker.

Kept import-light on purpose: the CLI imports this package first, and
`flamenco-pipeline --help` must start fast. The Dagger main object lives in
`pipeline.main` (found through the `dagger.mod` entry point).
"""

__version__ = "0.1.0"
