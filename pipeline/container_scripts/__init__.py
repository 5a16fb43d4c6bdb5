"""Standard-library scripts that run inside containers (and, in the container lane,
on the host): each is copied into a container as a file and run with `python3`.
They import nothing from the pipeline (tests/test_layout.py checks)."""
