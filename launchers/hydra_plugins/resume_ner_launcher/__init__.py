"""resume-ner's Hydra launcher plugin, discovered through the `hydra_plugins` namespace.

It is installed with the project (pyproject.toml maps `hydra_plugins` to launchers/) so that
Hydra's plugin scan finds it. The HPO issue fills it with a launcher that drives a current
Optuna locally (the `interval`/`choice`/`range`/`tag(log, ...)` sweep grammar) and submits
the same search to Azure ML as a sweep job; until then it registers nothing.
"""
