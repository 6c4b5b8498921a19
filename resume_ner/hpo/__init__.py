"""Hyperparameter search: one search-space language (space.py), Azure ML's early-termination
policies (policies.py), and the local Optuna study that runs trials through the training
seam (study.py, trial.py, workers.py)."""
