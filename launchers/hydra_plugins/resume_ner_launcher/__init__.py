"""resume-ner's Hydra plugins, discovered through the `hydra_plugins` namespace.

Installed with the project (pyproject.toml maps `hydra_plugins` to launchers/), so Hydra's
plugin scan finds them: `sweeper.py`, the sweeper of `python -m resume_ner.train -m`
(an Optuna study under hpo=smoke|prod, Hydra's basic sweep under hpo=none), and
`azureml_launcher.py`, `hydra/launcher=azureml`, which sends the same runs to Azure ML.
"""
