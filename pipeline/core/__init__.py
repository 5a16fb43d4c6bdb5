"""The engine-free core: the stage spec, the settings (registry, model, validation),
what the source says, the plan. Imports neither dagger nor click nor any lane
(tests/test_layout.py checks)."""
