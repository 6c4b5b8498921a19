"""Structured configs (schema.py), their registration in Hydra's ConfigStore (registry.py),
composition (compose.py), and the checks of overrides and choices (overrides.py, checks.py).

Nothing is imported here: a torch- and Hydra-free module (the search-space grammar) can use
config.overrides without loading Hydra."""
