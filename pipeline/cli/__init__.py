"""The `flamenco-pipeline` command line (pipeline.cli.app). It depends on every other
package; nothing depends on it (tests/test_layout.py checks)."""
