"""CI and reproduction: the CI lines every CI file runs, the verdict, repro.json (record, translation, re-run)."""
