"""The search-space language: conf/hpo and Hydra's sweep grammar become the same dimensions,
validated against the composed train config, and Optuna's distributions and grids."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from omegaconf import OmegaConf

from resume_ner.config.checks import check_config
from resume_ner.config.compose import compose_train
from resume_ner.config.overrides import parse_overrides
from resume_ner.errors import ConfigError
from resume_ner.hpo.dimension import Dimension
from resume_ner.hpo.dimension_checks import check_dimension, check_dimensions
from resume_ner.hpo.space import distribution, grid, merge, search_space
from resume_ner.hpo.sweep_grammar import from_sweep_overrides

LR = Dimension("learning_rate", "training.learning_rate", "loguniform", min=1e-5, max=1e-3)
BATCH = Dimension("batch_size", "training.batch_size", "choice", values=(8, 16))


@pytest.fixture(scope="module")
def prod():
    return compose_train(["hpo=prod"])


def _dims(cfg) -> dict[str, Dimension]:
    return {d.name: d for d in search_space(cfg)}


# --------------------------------------------------------------------------- conf/hpo


def test_prod_composes_into_six_dimensions(prod):
    dims = _dims(prod)
    assert list(dims) == [
        "learning_rate",
        "head_learning_rate",
        "batch_size",
        "warmup_ratio",
        "weight_decay",
        "epochs",
    ]
    assert dims["learning_rate"] == Dimension(
        "learning_rate", "training.learning_rate", "loguniform", min=5e-5, max=8e-4
    )
    assert dims["batch_size"].values == (8, 16, 32)
    # randint bounds come back as ints (YAML's 6 is 6.0 in the schema's float field)
    epochs = dims["epochs"]
    assert (epochs.type, epochs.min, epochs.max) == ("randint", 6, 20)
    assert isinstance(epochs.min, int) and isinstance(epochs.max, int)
    # Valid on Azure ML too: random sampling (bayesian takes no loguniform, no termination)
    assert prod.hpo.sampling == "random" and prod.hpo.early_termination.policy == "bandit"


def test_smoke_and_none():
    smoke = compose_train(["hpo=smoke"])
    assert list(_dims(smoke)) == ["learning_rate", "batch_size"]
    assert smoke.hpo.limits.max_trials == 4
    assert "training.epochs=3" in smoke.hpo.trial_overrides
    assert search_space(compose_train(["hpo=none"])) == []


def test_every_part_is_a_command_line_override():
    cfg = compose_train(
        [
            "hpo=prod",
            "hpo.search_space.learning_rate.max=1e-3",
            "hpo.search_space.batch_size.values=[4,8]",
            "hpo.search_space.epochs.param=training.gradient_accumulation_steps",
            "~hpo.search_space.weight_decay",
        ]
    )
    dims = _dims(cfg)
    assert dims["learning_rate"].max == 1e-3
    assert dims["batch_size"].values == (4, 8)
    assert dims["epochs"].param == "training.gradient_accumulation_steps"
    assert "weight_decay" not in dims


@pytest.mark.slow
def test_the_space_module_imports_no_optuna_hydra_or_torch():
    code = (
        "import sys, resume_ner.hpo.space, resume_ner.hpo.dimension as d;"
        "d.Dimension('a', 'training.epochs', 'randint', min=1, max=3).override(2);"
        "print(sorted(m for m in ('optuna', 'torch', 'hydra') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


# --------------------------------------------------------------------------- overrides


def _choice(param: str) -> Dimension:
    return Dimension("d", param, "choice", values=("x",))


@pytest.mark.parametrize(
    ("dim", "value", "override"),
    [
        (LR, 0.0003, "training.learning_rate=0.0003"),
        (LR, 1e-05, "training.learning_rate=1e-05"),
        (BATCH, 16, "training.batch_size=16"),
        (_choice("model"), "distilbert", "model=distilbert"),
        (_choice("training.max_minutes"), None, "training.max_minutes=null"),
        (_choice("training.deterministic"), True, "training.deterministic=true"),
        # strings Hydra would read as something else are quoted
        (_choice("training.output_dir"), "8", "training.output_dir='8'"),
        (_choice("training.output_dir"), "true", "training.output_dir='true'"),
        (_choice("training.output_dir"), "a b'c", r"training.output_dir='a b\'c'"),
    ],
)
def test_override_is_read_back_by_hydra_as_the_value(dim, value, override):
    assert dim.override(value) == override
    (parsed,) = parse_overrides([override])
    assert parsed.value() == value


def test_a_dimension_survives_json():
    """A worker rebuilds the dimensions from the study's JSON spec (values as a list)."""
    restored = Dimension(**(vars(BATCH) | {"values": list(BATCH.values)}))
    assert restored == BATCH and hash(restored) == hash(BATCH)


# --------------------------------------------------------------------------- Optuna


def test_distributions():
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    assert distribution(LR) == FloatDistribution(1e-5, 1e-3, log=True)
    uniform = Dimension("w", "training.warmup_ratio", "uniform", min=0.0, max=0.2)
    assert distribution(uniform) == FloatDistribution(0.0, 0.2)
    assert not distribution(uniform).log
    quniform = Dimension("w", "training.warmup_ratio", "quniform", min=0.0, max=0.2, q=0.05)
    assert distribution(quniform) == FloatDistribution(0.0, 0.2, step=0.05)
    epochs = Dimension("epochs", "training.epochs", "randint", min=6, max=20)
    assert distribution(epochs) == IntDistribution(6, 20)  # both ends included
    assert distribution(BATCH) == CategoricalDistribution([8, 16])


def test_sampled_values_stay_in_range_and_integers_stay_integers(prod):
    import optuna

    dims = search_space(prod)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(200):
        trial = study.ask({d.name: distribution(d) for d in dims})
        assert 5e-5 <= trial.params["learning_rate"] <= 8e-4
        assert trial.params["batch_size"] in (8, 16, 32)
        assert isinstance(trial.params["epochs"], int)
        seen.add(trial.params["epochs"])
        study.tell(trial, 0.0)
    assert seen == set(range(6, 21))  # the inclusive range: 20 is sampled too


def test_grid_enumerates_discrete_dimensions():
    dims = [
        BATCH,
        Dimension("epochs", "training.epochs", "randint", min=2, max=4),
        Dimension("w", "training.warmup_ratio", "quniform", min=0.0, max=0.2, q=0.05),
    ]
    assert grid(dims) == {
        "batch_size": [8, 16],
        "epochs": [2, 3, 4],
        "w": [0.0, 0.05, 0.1, 0.15, 0.2],
    }


def test_grid_refuses_a_continuous_dimension():
    with pytest.raises(ConfigError, match=r"hpo\.search_space\.learning_rate: a loguniform") as e:
        grid([BATCH, LR])
    assert "hpo.sampling=random" in str(e.value)


# --------------------------------------------------------------------------- validation


# (overrides of hpo=prod's search space, the dimension named, the problem, the fix)
REFUSED = [
    (["epochs.type=randnit"], "epochs", "choose one of choice", "Did you mean 'randint'"),
    (["batch_size.values=[]"], "batch_size", "a choice needs values", "values=[8,16]"),
    (["batch_size.min=8"], "batch_size", "takes values, not min", "remove hpo.search_space."),
    (["warmup_ratio.min=0.3"], "warmup_ratio", "min (0.3) must be below max", "swap them"),
    (["learning_rate.min=0"], "learning_rate", "must be above 0", "use type uniform"),
    (["warmup_ratio.type=quniform"], "warmup_ratio", "needs a step q", "warmup_ratio.q=0.05"),
    (
        ["warmup_ratio.type=quniform", "warmup_ratio.q=0"],
        "warmup_ratio",
        "needs a step q above 0 (q is 0.0)",
        "set hpo.search_space.warmup_ratio.q",
    ),
    (
        ["warmup_ratio.type=quniform", "warmup_ratio.q=0.03"],
        "warmup_ratio",
        "bounds must be multiples of q",
        "round hpo.search_space.warmup_ratio.max",
    ),
    (["epochs.min=6.5"], "epochs", "randint bounds must be integers", "round them"),
    (
        ["epochs.param=training.epoch"],
        "epochs",
        "training.epoch is not a config key",
        "Did you mean 'training.epochs'",
    ),
    (["epochs.param=data.split"], "epochs", "data.split is a section", "val_fraction"),
    (["epochs.type=uniform"], "epochs", "training.epochs is an integer", "use type randint"),
    (["epochs.type=loguniform"], "epochs", "training.epochs is an integer", "use type randint"),
    (["batch_size.values=[8,16.5]"], "batch_size", "the choice holds 16.5", "of that type"),
    (["batch_size.values=[8,true]"], "batch_size", "the choice holds True", "of that type"),
    (["epochs.param=training.device"], "epochs", "is a str, not a number", "type=choice"),
    (
        ["epochs.param=training.learning_rate"],
        "epochs",
        "already searched by hpo.search_space.learning_rate",
        "remove one",
    ),
    (
        ["batch_size.param=model", "batch_size.values=[minilm,distilbrt]"],
        "batch_size",
        "'distilbrt' is not an option of the model group",
        "Did you mean 'distilbert'",
    ),
    (["epochs.param=model"], "epochs", "model is a config group", "type=choice"),
    (
        ["batch_size.param=experiment", "batch_size.values=[deberta]"],
        "batch_size",
        "the experiment group is not in the config's defaults list",
        "search the groups and keys",
    ),
    (
        ["batch_size.param=hpo", "batch_size.values=[smoke]"],
        "batch_size",
        "cannot sweep the hpo group",
        "the hpo group itself",
    ),
]


@pytest.mark.parametrize(("overrides", "name", "problem", "fix"), REFUSED)
def test_a_dimension_that_cannot_be_searched_is_refused_at_composition(
    overrides, name, problem, fix
):
    args = ["hpo=prod", *(f"hpo.search_space.{o}" for o in overrides)]
    with pytest.raises(ConfigError) as error:
        compose_train(args)
    message = str(error.value)
    assert message.startswith(f"hpo.search_space.{name}")
    assert problem in message and fix in message


def test_a_dimension_name_must_be_an_azure_input_name(prod):
    bad = Dimension("learning-rate", "training.learning_rate", "uniform", min=0.1, max=0.2)
    with pytest.raises(ConfigError, match=r"'learning-rate' is not a valid dimension name") as e:
        check_dimension(bad, prod)
    assert "call it learning_rate" in str(e.value)


def test_check_config_validates_a_plain_config_too(prod):
    """The sweeper checks the config less Hydra's node: a plain DictConfig, no schema."""
    plain = OmegaConf.to_container(prod)
    plain["hpo"]["search_space"]["epochs"]["min"] = 30
    with pytest.raises(ConfigError, match=r"hpo\.search_space\.epochs: min \(30\)"):
        check_config(OmegaConf.create(plain))
    plain["hpo"]["search_space"]["epochs"]["min"] = 6
    check_config(OmegaConf.create(plain))


def test_a_group_dimension_passes(prod):
    check_dimension(Dimension("model", "model", "choice", values=("minilm", "distilbert")), prod)


# --------------------------------------------------------------------------- the command line


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("training.learning_rate=tag(log, interval(1e-5, 1e-3))",
         Dimension("learning_rate", "training.learning_rate", "loguniform", min=1e-5, max=1e-3)),
        ("training.warmup_ratio=interval(0, 0.2)",
         Dimension("warmup_ratio", "training.warmup_ratio", "uniform", min=0.0, max=0.2)),
        ("training.batch_size=choice(8,16)", BATCH),
        ("training.batch_size=8,16", BATCH),
        ("training.batch_size=shuffle(8,16)", BATCH),
        # Hydra's range excludes the stop, like Python's
        ("training.epochs=range(2,6)",
         Dimension("epochs", "training.epochs", "choice", values=(2, 3, 4, 5))),
        ("training.warmup_ratio=range(0,0.2,0.05)",
         Dimension("warmup_ratio", "training.warmup_ratio", "choice",
                   values=(0.0, 0.05, 0.1, 0.15))),
        # int(interval(a, b)) is an inclusive integer range
        ("training.epochs=int(interval(2, 6))",
         Dimension("epochs", "training.epochs", "randint", min=2, max=6)),
        ("model=minilm,distilbert",
         Dimension("model", "model", "choice", values=("minilm", "distilbert"))),
        ("model=glob(*,exclude=deberta)",
         Dimension("model", "model", "choice", values=("distilbert", "minilm"))),
    ],
)  # fmt: skip
def test_each_sweep_form_becomes_a_dimension(override, expected, prod):
    dims, plain = from_sweep_overrides([override], prod)
    assert dims == [expected] and plain == []


def test_plain_overrides_come_back_unchanged():
    overrides = [
        "training.epochs=3",
        "hpo=smoke",
        "hydra/launcher=basic,other",
        "hydra.sweep.dir=x",
        "training.learning_rate=tag(log, interval(1e-5, 1e-3))",
        "data.sample.num_docs=40",
    ]
    dims, plain = from_sweep_overrides(overrides)
    assert [d.name for d in dims] == ["learning_rate"]
    assert plain == [o for o in overrides if "interval" not in o]


def test_names_are_made_unique():
    dims, _ = from_sweep_overrides(["data.split.seed=1,2", "data.sample.seed=3,4", "seed=5,6"])
    assert [d.name for d in dims] == ["seed", "data_sample_seed", "seed_2"]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("training.learning_rate=tag(lgo, interval(1e-5, 1e-3))", "unknown tag lgo"),
        ("training.batch_size=tag(log, choice(8,16))", "tags mean nothing on a choice"),
        ("training.epochs=tag(log, int(interval(2, 8)))", "a log-scaled integer range"),
        ("+training.foo=1,2", "without '+'"),
        ("training.epochs=range(6,2)", "range(a,b) stops BEFORE b"),
        ("training.epochs=glob(*)", "glob(...) selects options of a config group"),
        ("training.warmup_ratio=interval(0.2, 0)", "min (0.2) must be below max (0.0)"),
        ("training.learning_rate=tag(log, interval(0, 1e-3))", "must be above 0"),
    ],
)
def test_a_sweep_that_cannot_be_a_dimension_is_refused(override, message):
    with pytest.raises(ConfigError, match=re.escape(message)) as error:
        from_sweep_overrides([override])
    assert str(error.value).startswith(override)


def test_sweep_dimensions_are_validated_against_the_config(prod):
    override = "training.batch_size=interval(8, 32)"
    with pytest.raises(ConfigError, match=r"training\.batch_size is an integer") as error:
        from_sweep_overrides([override], prod)
    assert str(error.value).startswith(f"{override}: ")
    with pytest.raises(ConfigError, match="not an option of the model group"):
        from_sweep_overrides(["model=minilm,distilbrt"], prod)


def test_a_malformed_override_is_left_to_hydra():
    assert from_sweep_overrides(["training.epochs=(", "a=1,2"]) == (
        [],
        ["training.epochs=(", "a=1,2"],
    )


# --------------------------------------------------------------------------- merge


def test_merge_replaces_by_param_keeps_the_configured_name_and_appends_the_rest():
    configured = [
        Dimension("lr", "training.learning_rate", "loguniform", min=1e-5, max=1e-3),
        BATCH,
    ]
    swept, _ = from_sweep_overrides(
        [
            "training.learning_rate=tag(log, interval(1e-4, 1e-3))",
            "model=minilm,distilbert",
            "data.sample.batch_size=1,2",  # a clash of names, not of params
        ]
    )
    merged = merge(configured, swept)
    assert [(d.name, d.param) for d in merged] == [
        ("lr", "training.learning_rate"),
        ("batch_size", "training.batch_size"),
        ("model", "model"),
        ("data_sample_batch_size", "data.sample.batch_size"),
    ]
    assert merged[0].min == 1e-4
    check_dimensions(merged[:3], compose_train([]))
