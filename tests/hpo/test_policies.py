"""Azure ML's early-termination policies (resume_ner/hpo/policies.py) against decisions worked
out by hand on crafted curves: bandit (Azure's own examples), median over running averages,
truncation and its rounding, the evaluation schedule, and every config error."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from omegaconf import OmegaConf

from resume_ner.errors import ConfigError
from resume_ner.hpo.policies import Policy, check_policy, stop_reason

REPO = Path(__file__).resolve().parents[2]

MAX, MIN = True, False


def bandit(**settings: float) -> Policy:
    """A bandit evaluated at every interval from the first."""
    return Policy("bandit", **settings)


def median() -> Policy:
    return Policy("median")


def truncation(percentage: int) -> Policy:
    return Policy("truncation", truncation_percentage=percentage)


# --------------------------------------------------------------------------- bandit


def test_bandit_slack_factor_example_stops_0815_and_keeps_083():
    # Best other at interval 3: 0.90; 0.90 / 1.1 = 0.8182. 0.815 is above 0.90 * 0.9 = 0.81,
    # so only the division formula stops it.
    others = [[0.50, 0.70, 0.90]]
    reason = stop_reason(bandit(slack_factor=0.1), MAX, [0.60, 0.70, 0.815], others)
    assert reason == "bandit at interval 3: 0.815 < 0.818 (best 0.900 / (1 + 0.1))"
    assert stop_reason(bandit(slack_factor=0.1), MAX, [0.60, 0.70, 0.83], others) is None


def test_bandit_learn_page_example():
    # [learn]: best 0.8, slack_factor 0.2 -> 0.8 / 1.2 = 0.6667 ("0.66").
    policy = bandit(slack_factor=0.2)
    assert stop_reason(policy, MAX, [0.66], [[0.8]]).startswith("bandit at interval 1: 0.660 <")
    assert stop_reason(policy, MAX, [0.67], [[0.8]]) is None


def test_bandit_slack_factor_minimize_multiplies():
    # Best loss 0.30: 0.30 * 1.1 = 0.33 (not 0.30 / 0.9 = 0.3333, which would keep 0.332).
    policy = bandit(slack_factor=0.1)
    others = [[0.50, 0.30], [0.60, 0.45]]
    reason = stop_reason(policy, MIN, [0.40, 0.332], others)
    assert reason == "bandit at interval 2: 0.332 > 0.330 (best 0.300 * (1 + 0.1))"
    assert stop_reason(policy, MIN, [0.40, 0.325], others) is None


def test_bandit_slack_amount_v1_example():
    # [v1-bandit]: best 0.8, slack_amount 0.2 -> "any run with an AUC less than 0.6".
    policy = bandit(slack_amount=0.2)
    reason = stop_reason(policy, MAX, [0.59], [[0.8], [0.7]])
    assert reason == "bandit at interval 1: 0.590 < 0.600 (best 0.800 - 0.2)"
    assert stop_reason(policy, MAX, [0.61], [[0.8], [0.7]]) is None


def test_bandit_slack_amount_minimize_adds():
    policy = bandit(slack_amount=0.05)  # best loss 0.30 -> 0.35
    reason = stop_reason(policy, MIN, [0.36], [[0.30], [0.50]])
    assert reason == "bandit at interval 1: 0.360 > 0.350 (best 0.300 + 0.05)"
    assert stop_reason(policy, MIN, [0.34], [[0.30], [0.50]]) is None


def test_bandit_best_is_the_best_any_other_reported_up_to_the_interval():
    # At interval 3 the other run reports 0.6, but reported 0.9 at interval 2: best 0.9,
    # 0.9 / 1.1 = 0.818 stops 0.80 (against 0.6 alone 0.80 would go on).
    reason = stop_reason(bandit(slack_factor=0.1), MAX, [0.5, 0.7, 0.80], [[0.5, 0.9, 0.6]])
    assert reason == "bandit at interval 3: 0.800 < 0.818 (best 0.900 / (1 + 0.1))"


def test_bandit_judges_the_trials_best_so_far_not_its_last_value():
    # Last value 0.50 is far below 0.818, but the trial's best so far, 0.85, is within slack.
    assert stop_reason(bandit(slack_factor=0.1), MAX, [0.85, 0.50], [[0.9, 0.9]]) is None


def test_bandit_ignores_what_others_reported_after_the_interval():
    # Up to interval 2 the other's best is 0.6 -> 0.545; its 0.99 at interval 3 must not count.
    others = [[0.5, 0.6, 0.99]]
    assert stop_reason(bandit(slack_factor=0.1), MAX, [0.5, 0.58], others) is None


def test_trials_short_of_the_interval_do_not_count():
    # The only run with a better value has reported one interval: at interval 2 no one counts.
    assert stop_reason(bandit(slack_factor=0.1), MAX, [0.1, 0.1], [[0.99]]) is None
    # With a run that did reach interval 2 (best 0.2 -> 0.1818), 0.1 is stopped.
    reason = stop_reason(bandit(slack_factor=0.1), MAX, [0.1, 0.1], [[0.99], [0.2, 0.2]])
    assert reason == "bandit at interval 2: 0.100 < 0.182 (best 0.200 / (1 + 0.1))"


@pytest.mark.parametrize("policy", [bandit(slack_factor=0.1), median(), truncation(99)])
def test_without_other_trials_nothing_is_stopped(policy):
    assert stop_reason(policy, MAX, [0.0, 0.0], []) is None
    assert stop_reason(policy, MAX, [0.0, 0.0], [[0.9]]) is None


def test_bandit_reason_shows_enough_digits_to_tell_value_and_threshold_apart():
    # 0.9 / 1.1 = 0.81818..; 0.8181 and 0.81818 agree to 3 decimals (0.818), differ at 4.
    reason = stop_reason(bandit(slack_factor=0.1), MAX, [0.8181], [[0.9]])
    assert reason == "bandit at interval 1: 0.8181 < 0.8182 (best 0.900 / (1 + 0.1))"


# --------------------------------------------------------------------------- median

# Running averages over intervals 1-3: 0.5, 0.6, 0.65 -> median 0.6. Their last values (0.8,
# 0.6, 0.95) have median 0.8, so a policy on last values would decide otherwise.
MEDIAN_OTHERS = [[0.2, 0.5, 0.8], [0.6, 0.6, 0.6], [0.1, 0.9, 0.95]]


def test_median_stops_a_best_below_the_median_of_running_averages():
    reason = stop_reason(median(), MAX, [0.3, 0.59, 0.5], MEDIAN_OTHERS)
    assert reason == (
        "median at interval 3: 0.590 < 0.600 "
        "(median of 3 other runs' running averages over intervals 1-3)"
    )


def test_median_keeps_a_best_above_it_even_when_the_last_value_is_below():
    assert stop_reason(median(), MAX, [0.3, 0.61, 0.4], MEDIAN_OTHERS) is None


def test_median_minimize_even_count():
    # Loss averages 0.8 and 0.7: median 0.75. Best losses 0.76 (stop) and 0.74 (go on).
    others = [[1.0, 0.8, 0.6], [0.9, 0.7, 0.5]]
    reason = stop_reason(median(), MIN, [0.9, 0.77, 0.76], others)
    assert reason is not None and reason.startswith("median at interval 3: 0.760 > 0.750 (")
    assert stop_reason(median(), MIN, [0.9, 0.74, 0.8], others) is None


def test_median_is_over_the_other_runs_only():
    # One other run, average 0.6; the trial's own average is 0.35. With itself in the pool the
    # median would be 0.475 and 0.59 would go on.
    assert stop_reason(median(), MAX, [0.1, 0.59], [[0.6, 0.6]]) is not None


def test_median_on_a_tie_goes_on():
    assert stop_reason(median(), MAX, [0.6], [[0.6]]) is None


# --------------------------------------------------------------------------- truncation


def test_truncation_20_percent_of_4_runs_cuts_none():
    # floor(4 * 20 / 100) = 0: even the worst of 4 goes on.
    assert stop_reason(truncation(20), MAX, [0.1], [[0.5], [0.6], [0.7]]) is None


def test_truncation_20_percent_of_5_runs_cuts_the_worst_only():
    others = [[0.5], [0.6], [0.7], [0.8]]  # floor(5 * 20 / 100) = 1
    reason = stop_reason(truncation(20), MAX, [0.4], others)
    assert (
        reason
        == "truncation at interval 1: 0.400 < 0.500 (lowest 20%: 1 of 5 runs at this interval)"
    )
    assert stop_reason(truncation(20), MAX, [0.55], others) is None


def test_truncation_50_percent_of_5_runs_cuts_two():
    others = [[0.5], [0.6], [0.7], [0.8]]  # floor(2.5) = 2: the second worst goes too
    reason = stop_reason(truncation(50), MAX, [0.55], others)
    assert (
        reason
        == "truncation at interval 1: 0.550 < 0.600 (lowest 50%: 2 of 5 runs at this interval)"
    )
    assert stop_reason(truncation(50), MAX, [0.65], others) is None


def test_truncation_minimize_cuts_the_largest_losses():
    others = [[0.5], [0.6], [0.7], [0.8]]  # worst losses 0.8 then 0.7; 2 of 5 are cut
    reason = stop_reason(truncation(50), MIN, [0.75], others)
    assert (
        reason
        == "truncation at interval 1: 0.750 > 0.700 (lowest 50%: 2 of 5 runs at this interval)"
    )
    assert stop_reason(truncation(50), MIN, [0.65], others) is None


def test_truncation_counts_only_runs_at_the_interval_and_their_values_up_to_it():
    # Five curves, but one has not reached interval 2: 4 runs, 20% -> none cut.
    others = [[0.5, 0.5], [0.6, 0.6], [0.7, 0.7], [0.9]]
    assert stop_reason(truncation(20), MAX, [0.1, 0.1], others) is None
    # At interval 2 the others rank by their best up to 2 (0.5, 0.6, 0.7, 0.8), not by 0.0 at 3.
    others = [[0.5, 0.5, 0.0], [0.6, 0.6, 0.0], [0.7, 0.7, 0.0], [0.8, 0.8, 0.0]]
    assert stop_reason(truncation(20), MAX, [0.45, 0.45], others) is not None


def test_truncation_keeps_a_run_tied_with_the_cutoff():
    assert stop_reason(truncation(20), MAX, [0.5], [[0.5], [0.6], [0.7], [0.8]]) is None


# --------------------------------------------------------------------------- schedule


@pytest.mark.parametrize(
    ("interval", "delay", "applied"),
    [
        # Azure: every multiple of evaluation_interval that is >= delay_evaluation.
        (1, 0, [1, 2, 3, 4, 5, 6, 7, 8]),
        (1, 5, [5, 6, 7, 8]),
        (2, 0, [2, 4, 6, 8]),
        (2, 5, [6, 8]),
        (3, 3, [3, 6]),
    ],
)
def test_applies_at(interval, delay, applied):
    policy = Policy("median", evaluation_interval=interval, delay_evaluation=delay)
    assert [n for n in range(1, 9) if policy.applies_at(n)] == applied


def test_applies_at_v1_example_first_at_delay():
    # [v1-bandit]: evaluation_interval 100, delay_evaluation 200 -> first applied at 200.
    policy = Policy("bandit", evaluation_interval=100, delay_evaluation=200, slack_factor=0.2)
    assert [n for n in range(1, 401) if policy.applies_at(n)] == [200, 300, 400]


def test_none_never_applies_nor_stops():
    policy = Policy("none")
    assert not any(policy.applies_at(n) for n in range(1, 10))
    assert stop_reason(policy, MAX, [0.0], [[1.0]]) is None


# A curve far outside the slack at intervals 1-3 (best other 0.9 -> threshold 0.818).
BAD, GOOD = [0.1, 0.1, 0.1, 0.1], [[0.9, 0.9, 0.9, 0.9]]


def test_delay_evaluation_keeps_a_trial_until_the_first_applicable_interval():
    undelayed = bandit(slack_factor=0.1)
    assert stop_reason(undelayed, MAX, BAD[:2], GOOD) is not None
    delayed = bandit(slack_factor=0.1, delay_evaluation=3)
    assert stop_reason(delayed, MAX, BAD[:1], GOOD) is None
    assert stop_reason(delayed, MAX, BAD[:2], GOOD) is None
    assert stop_reason(delayed, MAX, BAD[:3], GOOD).startswith("bandit at interval 3:")


def test_delay_evaluation_2_evaluates_at_interval_2_itself():
    # "greater than or equal to delay_evaluation": the first evaluation is AT 2, not after it.
    delayed = bandit(slack_factor=0.1, delay_evaluation=2)
    assert stop_reason(delayed, MAX, BAD[:1], GOOD) is None
    assert stop_reason(delayed, MAX, BAD[:2], GOOD).startswith("bandit at interval 2:")


def test_evaluation_interval_skips_the_intervals_between():
    every_other = bandit(slack_factor=0.1, evaluation_interval=2)
    assert stop_reason(every_other, MAX, BAD[:1], GOOD) is None
    assert stop_reason(every_other, MAX, BAD[:2], GOOD) is not None
    assert stop_reason(every_other, MAX, BAD[:3], GOOD) is None


# --------------------------------------------------------------------------- config


def test_from_config_of_the_shipped_groups():
    prod = OmegaConf.load(REPO / "conf" / "hpo" / "prod.yaml").early_termination
    assert Policy.from_config(prod) == Policy(
        "bandit", evaluation_interval=1, delay_evaluation=2, slack_factor=0.1
    )
    smoke = OmegaConf.load(REPO / "conf" / "hpo" / "smoke.yaml").early_termination
    assert Policy.from_config(smoke) == Policy(
        "bandit", evaluation_interval=1, delay_evaluation=1, slack_factor=0.1
    )


def test_from_config_reads_each_policy():
    cfg = OmegaConf.create(
        {"policy": "truncation", "evaluation_interval": 2, "delay_evaluation": 4,
         "slack_factor": None, "slack_amount": None, "truncation_percentage": 30}
    )  # fmt: skip
    assert Policy.from_config(cfg) == Policy("truncation", 2, 4, truncation_percentage=30)
    attrs = SimpleNamespace(policy="bandit", slack_factor=None, slack_amount=0.05)
    assert Policy.from_config(attrs) == Policy("bandit", 1, 0, slack_amount=0.05)
    assert Policy.from_config({"policy": "median"}) == Policy("median", 1, 0)


def test_none_drops_the_settings_of_other_policies():
    # Switching prod's bandit off takes one override: its slack_factor is not an error.
    cfg = {"policy": "none", "slack_factor": 0.1, "truncation_percentage": 20}
    assert Policy.from_config(cfg) == Policy("none", 1, 0)


def test_a_policy_survives_the_study_spec_round_trip():
    policy = Policy("bandit", 1, 2, slack_factor=0.1)
    assert Policy(**vars(policy)) == policy


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"policy": "hyperband"}, r"hpo\.early_termination\.policy='hyperband' is not a policy"),
        ({"policy": None}, r"hpo\.early_termination\.policy=None is not a policy"),
        (
            {"policy": "bandit"},
            r"policy=bandit needs exactly one of slack_factor or slack_amount, and neither",
        ),
        (
            {"policy": "bandit", "slack_factor": 0.1, "slack_amount": 0.05},
            r"exactly one of slack_factor or slack_amount, and both is set.*slack_amount=null",
        ),
        ({"policy": "bandit", "slack_factor": 0}, r"slack_factor=0 must be a number > 0"),
        ({"policy": "bandit", "slack_factor": -0.1}, r"slack_factor=-0\.1 must be a number > 0"),
        ({"policy": "bandit", "slack_amount": -0.2}, r"slack_amount=-0\.2 must be a number > 0"),
        ({"policy": "bandit", "slack_factor": "x"}, r"slack_factor='x' must be a number > 0"),
        (
            {"policy": "truncation"},
            r"truncation_percentage=None: policy=truncation needs an integer from 1 to 99",
        ),
        ({"policy": "truncation", "truncation_percentage": 0}, r"truncation_percentage=0:"),
        ({"policy": "truncation", "truncation_percentage": 100}, r"truncation_percentage=100:"),
        ({"policy": "truncation", "truncation_percentage": 20.5}, r"truncation_percentage=20\.5:"),
        (
            {"policy": "median", "evaluation_interval": 0},
            r"hpo\.early_termination\.evaluation_interval=0 must be an integer >= 1",
        ),
        (
            {"policy": "median", "evaluation_interval": True},
            r"evaluation_interval=True must be an integer >= 1",
        ),
        (
            {"policy": "median", "delay_evaluation": -1},
            r"hpo\.early_termination\.delay_evaluation=-1 must be an integer >= 0",
        ),
        (
            {"policy": "median", "slack_factor": 0.1},
            r"slack_factor=0\.1 has no effect with policy=median \(only bandit uses it\): "
            r"set hpo\.early_termination\.slack_factor=null",
        ),
        (
            {"policy": "median", "truncation_percentage": 20},
            r"truncation_percentage=20 has no effect with policy=median \(only truncation",
        ),
        (
            {"policy": "truncation", "truncation_percentage": 20, "slack_amount": 0.1},
            r"slack_amount=0\.1 has no effect with policy=truncation",
        ),
        (
            {"policy": "bandit", "slack_factor": 0.1, "truncation_percentage": 20},
            r"truncation_percentage=20 has no effect with policy=bandit",
        ),
    ],
)
def test_check_policy_refuses(settings, message):
    with pytest.raises(ConfigError, match=message):
        check_policy(settings)
    with pytest.raises(ConfigError, match=message):
        Policy.from_config(OmegaConf.create(settings))


@pytest.mark.parametrize(
    "settings",
    [
        {"policy": "none"},
        {"policy": "median", "evaluation_interval": 2, "delay_evaluation": 5},
        {"policy": "bandit", "slack_factor": 0.1, "slack_amount": None},
        {"policy": "bandit", "slack_amount": 1},
        {"policy": "truncation", "truncation_percentage": 1},
        {"policy": "truncation", "truncation_percentage": 99},
    ],
)
def test_check_policy_accepts(settings):
    check_policy(settings)


def test_an_invalid_policy_cannot_be_built_directly():
    with pytest.raises(ConfigError, match="exactly one of slack_factor or slack_amount"):
        Policy("bandit")
