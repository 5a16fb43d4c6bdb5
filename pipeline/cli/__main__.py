"""`python -m pipeline.cli`: how repro re-runs the CLI (pipeline.ci.repro_rerun.CLI_PREFIX)."""

from pipeline.cli.app import main

main()
