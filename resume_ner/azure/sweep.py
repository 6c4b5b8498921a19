"""The `hpo` config as an Azure ML sweep: dimensions, sampling, objective, limits and early
termination, from the same `Search` the local study runs (hpo/search.py).

The SDK's own types are used (azure.ai.ml.sweep), imported inside the functions. Where Azure
ML and the local study differ, the difference is made explicit here:
- loguniform: Azure's LogUniform takes the NATURAL LOGARITHMS of the bounds and samples
  exp(uniform(min, max)); the config gives the values themselves.
- randint: Azure's Randint(upper) samples 0..upper-1 and has no lower bound, and an int field
  refuses a float such as 7.0, so the config's inclusive range min..max is sent as a Choice
  of those integers (which every sampling algorithm takes).
- choice values are what Azure writes into the trial command, so booleans and null go as the
  words Hydra reads back (true/false/null).
"""

from __future__ import annotations

import math
from typing import Any

from resume_ner.errors import RemoteError
from resume_ner.hpo.dimension import Dimension, format_value

# Azure ML's sampling algorithm of each hpo.sampling.
SAMPLING = {"random": "random", "grid": "grid", "bayesian": "bayesian"}
# More integers than this in a randint dimension would make an unwieldy Choice.
MAX_INTEGER_CHOICES = 1000


def distribution(dim: Dimension) -> Any:
    """The Azure ML search-space object of one dimension."""
    from azure.ai.ml.sweep import Choice, LogUniform, QUniform, Uniform

    key = f"hpo.search_space.{dim.name}"
    if dim.type == "choice":
        return Choice(values=[choice_value(v) for v in dim.values])
    if dim.type == "uniform":
        return Uniform(min_value=float(dim.min), max_value=float(dim.max))
    if dim.type == "loguniform":
        if dim.min <= 0 or dim.max <= 0:
            raise RemoteError(
                f"{key}: a loguniform range needs bounds > 0 (got {dim.min}..{dim.max}); "
                f"Azure ML samples exp(uniform(ln min, ln max))"
            )
        return LogUniform(min_value=math.log(dim.min), max_value=math.log(dim.max))
    if dim.type == "quniform":
        return QUniform(min_value=_number(dim.min), max_value=_number(dim.max), q=_number(dim.q))
    if dim.type == "randint":
        low, high = int(dim.min), int(dim.max)
        if high - low + 1 > MAX_INTEGER_CHOICES:
            raise RemoteError(
                f"{key}: randint {low}..{high} has over {MAX_INTEGER_CHOICES} values, sent to "
                f"Azure ML as a choice of each integer; narrow it or make it quniform"
            )
        return Choice(values=list(range(low, high + 1)))
    raise RemoteError(f"{key}.type={dim.type}: not a search type")


def choice_value(value: Any) -> Any:
    """A choice value as Azure ML substitutes it into the command: numbers as they are,
    anything else as the text Hydra reads back as that value."""
    if isinstance(value, bool) or value is None:
        return format_value(value)
    if isinstance(value, int | float):
        return value
    return format_value(value)


def _number(value: float) -> int | float:
    """An integral float as an int: the SDK's integer fields refuse 7.0."""
    return int(value) if float(value).is_integer() else float(value)


def search_space(dims: list[Dimension]) -> dict[str, Any]:
    """Name -> Azure ML distribution, for SweepJob(search_space=...)."""
    return {dim.name: distribution(dim) for dim in dims}


def sampling_algorithm(hpo: Any) -> Any:
    """Azure ML's sampling algorithm; the seed is applied by random sampling only."""
    from azure.ai.ml.sweep import RandomSamplingAlgorithm

    if hpo.sampling == "random":
        return RandomSamplingAlgorithm(seed=int(hpo.seed))
    return SAMPLING[hpo.sampling]


def objective(hpo: Any) -> Any:
    """The sweep's objective. Its primary metric is the key training logs once per epoch
    (hpo.objective.metric): Azure ML's early termination counts each log of the primary
    metric as one evaluation interval, and its best trial is the one whose best logged value
    of it is best ([tune] "Each time the training script logs the primary metric counts as
    one interval"; [best] children are ranked by their "best primary metric"), which is the
    score of the epoch a trial's checkpoint keeps.

    [tune] https://learn.microsoft.com/azure/machine-learning/how-to-tune-hyperparameters
           #early-termination
    [best] https://learn.microsoft.com/python/api/azureml-train-core/
           azureml.train.hyperdrive.hyperdriverun#get-children-sorted-by-primary-metric
    """
    from azure.ai.ml.sweep import Objective

    return Objective(goal=hpo.objective.goal, primary_metric=hpo.objective.metric)


def limits(hpo: Any) -> Any:
    """max_trials, max_concurrent and the timeouts (seconds on both sides)."""
    from azure.ai.ml.sweep import SweepJobLimits

    lim = hpo.limits
    return SweepJobLimits(
        max_total_trials=int(lim.max_trials),
        max_concurrent_trials=int(lim.max_concurrent),
        timeout=int(lim.timeout) if lim.timeout else None,
        trial_timeout=int(lim.trial_timeout) if lim.trial_timeout else None,
    )


def early_termination(hpo: Any) -> Any:
    """Azure ML's policy of hpo.early_termination (the local study implements the same
    definitions, hpo/policies.py); None for policy=none."""
    from azure.ai.ml.sweep import BanditPolicy, MedianStoppingPolicy, TruncationSelectionPolicy

    from resume_ner.hpo.policies import Policy

    policy = Policy.from_config(hpo.early_termination)
    common = {
        "evaluation_interval": int(policy.evaluation_interval),
        "delay_evaluation": int(policy.delay_evaluation),
    }
    if policy.kind == "bandit":
        if policy.slack_factor is not None:
            return BanditPolicy(slack_factor=float(policy.slack_factor), **common)
        return BanditPolicy(slack_amount=float(policy.slack_amount), **common)
    if policy.kind == "median":
        return MedianStoppingPolicy(**common)
    if policy.kind == "truncation":
        return TruncationSelectionPolicy(
            truncation_percentage=int(policy.truncation_percentage), **common
        )
    return None


def not_applied(hpo: Any) -> list[str]:
    """The hpo settings an Azure ML sweep has no counterpart for, each with why."""
    notes = [
        f"hpo.limits.max_failed_fraction={hpo.limits.max_failed_fraction:g}: Azure ML runs "
        f"every trial whatever fails",
        f"hpo.keep_checkpoints={hpo.keep_checkpoints}: Azure ML keeps each trial's "
        f"checkpoint output",
    ]
    if hpo.sampling == "bayesian":
        notes += [
            f"hpo.startup_trials={hpo.startup_trials}: Azure ML's Bayesian sampling chooses "
            f"its own start",
            f"hpo.seed={hpo.seed}: Azure ML's Bayesian sampling takes no seed",
        ]
    if hpo.storage or hpo.study_name:
        notes.append("hpo.storage / hpo.study_name: the sweep job is the study on Azure ML")
    return notes
