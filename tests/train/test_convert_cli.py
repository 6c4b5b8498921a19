"""`python -m resume_ner.convert` end to end, on the checkpoint of the shared CLI training run.

One conversion (checkpoint given as the run folder, register=true) is shared by the checks
of its package, report, phase log and MLflow records; a forced parity failure, a forced
export timeout and a bad recipe name each run their own command.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import REPO, subprocess_env

pytestmark = pytest.mark.slow

PHASES = ("load", "export", "check", "optimise", "quantize", "parity", "package")


def convert_command(checkpoint: Path, run_dir: Path, *overrides: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "resume_ner.convert",
        f"checkpoint={checkpoint}",
        f"hydra.run.dir={run_dir}",
        "threads=1",
        *overrides,
    ]


def private_store(cli_run, folder: Path) -> str:
    """A copy of the shared run's MLflow store: the source run is there, and what a
    conversion logs stays out of the store the training tests count runs in."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(cli_run.db_uri.removeprefix("sqlite:///"), folder / "mlflow.db")
    return f"sqlite:///{folder / 'mlflow.db'}"


def run_convert(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        list(args),
        cwd=cwd,
        env=subprocess_env(**(env or {})),
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def converted(cli_run, tmp_path_factory) -> SimpleNamespace:
    """One conversion of the shared run's checkpoint, given as its run folder."""
    assert cli_run.result.returncode == 0, cli_run.result.stderr[-3000:]
    root = tmp_path_factory.mktemp("convert")
    package = root / "package"
    store = private_store(cli_run, root / "store")
    result = run_convert(
        root,
        *convert_command(
            cli_run.run_dir,
            root / "run",
            f"output={package}",
            f"tracking.uri={store}",
            "register=true",
            "model_name=ner-onnx",
        ),
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    report = json.loads((package / "conversion_report.json").read_text())
    return SimpleNamespace(root=root, package=package, result=result, report=report, store=store)


def test_the_package_holds_both_models_the_tokenizer_and_the_decoding_settings(converted, cli_run):
    package = converted.package
    for name in ("model.onnx", "model.int8.onnx", "tokenizer.json", "package.json"):
        assert (package / name).is_file(), name
    label_map = json.loads((package / "label_map.json").read_text())
    trained = json.loads((cli_run.checkpoint / "label_map.json").read_text())
    for key in ("id2label", "max_length", "stride", "word_features", "span_conventions"):
        assert label_map[key] == trained[key], key
    assert json.loads((package / "package.json").read_text())["format_version"] >= 1
    # int8 is really quantized: smaller than the fp32 graph
    sizes = {name: (package / name).stat().st_size for name in ("model.onnx", "model.int8.onnx")}
    assert sizes["model.int8.onnx"] < sizes["model.onnx"]


def test_the_report_compares_the_three_models_on_the_validation_set(converted, cli_run):
    report = converted.report
    assert report["passed"] is True and report["failures"] == []
    validation = cli_run.checkpoint / "validation_set.jsonl"
    documents = [line for line in validation.read_text().splitlines() if line.strip()]
    assert report["parity_set"]["documents"] == len(documents) > 0
    assert "validation set" in report["parity_set"]["source"]
    models = report["models"]
    assert set(models) == {"torch", "fp32", "int8"}
    for figures in models.values():
        assert 0.0 <= figures["micro_f1"] <= 1.0 and figures["ms_per_window"] > 0
    assert models["fp32"]["argmax_agreement"] >= 0.999
    assert models["fp32"]["max_abs_logit_diff"] < 1e-3
    assert models["int8"]["recipe"] == report["int8_recipe"] in report["int8_recipes"]
    # every alternative is measured and reported, the one packaged among them
    from resume_ner.convert.quantize import RECIPES

    assert set(report["int8_recipes"]) == set(RECIPES)
    for recipe, figures in report["int8_recipes"].items():
        assert figures["description"] and figures["size_bytes"] > 0, recipe
        assert 0.0 <= figures["micro_f1"] <= 1.0 and figures["ms_per_window"] > 0, recipe
    assert set(PHASES) - {"package"} <= set(report["phases_seconds"])
    for library in ("torch", "onnx", "onnxruntime"):
        assert report["versions"][library] != "not installed"
    assert (
        report["source"]["mlflow_run_id"]
        == json.loads((cli_run.checkpoint / "manifest.json").read_text())["mlflow_run_id"]
    )


def test_every_phase_logs_its_start_and_end(converted):
    log = converted.result.stderr + converted.result.stdout
    for name in PHASES:
        assert f"{name}: started" in log, name
        assert f"{name}: done in" in log, name


def test_the_package_is_logged_linked_to_its_training_run_and_registered(converted):
    from mlflow import MlflowClient

    client = MlflowClient(converted.store)
    source_run = converted.report["source"]["mlflow_run_id"]
    runs = client.search_runs(
        [e.experiment_id for e in client.search_experiments()],
        filter_string=f"tags.source_run_id = '{source_run}'",
    )
    assert len(runs) == 1
    run = runs[0]
    assert run.data.tags["int8_recipe"] == converted.report["int8_recipe"]
    assert (
        run.data.metrics["convert_int8_micro_f1"] == converted.report["models"]["int8"]["micro_f1"]
    )
    logged = {Path(f.path).name for f in client.list_artifacts(run.info.run_id, "package")}
    assert {"model.onnx", "model.int8.onnx", "conversion_report.json"} <= logged
    version = client.get_model_version_by_alias("ner-onnx", "champion")
    assert version.run_id == run.info.run_id
    assert version.source.endswith("/package")


def test_a_missed_parity_threshold_exits_non_zero_keeps_the_package_and_logs_nothing(
    cli_run, tmp_path
):
    from mlflow import MlflowClient

    store = private_store(cli_run, tmp_path / "store")
    client = MlflowClient(store)
    experiments = [e.experiment_id for e in client.search_experiments()]
    before = len(client.search_runs(experiments))
    azure_output = tmp_path / "azure-output"
    result = run_convert(
        tmp_path,
        *convert_command(
            cli_run.checkpoint,
            tmp_path / "run",
            "parity.max_int8_f1_loss=-1",  # no model can lose less than nothing
            f"tracking.uri={store}",
            "quantize.recipes=[dynamic_fp32_head]",  # one recipe suffices here
        ),
        env={"AZURE_ML_OUTPUT_package": str(azure_output)},
    )
    assert result.returncode == 2, result.stderr[-3000:]
    assert "error:" in result.stderr and "convert.parity.max_int8_f1_loss=-1" in result.stderr
    report = json.loads((azure_output / "conversion_report.json").read_text())
    assert report["passed"] is False and "max_int8_f1_loss" in report["failures"][0]
    assert len(client.search_runs(experiments)) == before


def test_an_export_past_its_timeout_is_ended_with_a_clear_error(cli_run, tmp_path):
    package = tmp_path / "package"
    result = run_convert(
        tmp_path,
        *convert_command(
            cli_run.checkpoint,
            tmp_path / "run",
            f"output={package}",
            "timeouts.export=0.5",
            "log_to_mlflow=false",
        ),
    )
    assert result.returncode == 2, result.stderr[-3000:]
    assert "export phase did not finish in 0.5 s" in result.stderr
    assert "convert.timeouts.export" in result.stderr
    assert not package.exists()


def test_a_missing_checkpoint_lists_where_it_looked(tmp_path):
    (tmp_path / "empty-run").mkdir()
    result = run_convert(
        tmp_path,
        *convert_command(tmp_path / "empty-run", tmp_path / "run", "log_to_mlflow=false"),
    )
    assert result.returncode == 2
    assert "no checkpoint found" in result.stderr and "empty-run" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unknown_recipe_is_refused_with_the_known_ones(tmp_path):
    result = run_convert(
        tmp_path,
        *convert_command(tmp_path, tmp_path / "run", "quantize.recipes=[fp4]"),
    )
    assert result.returncode == 2
    assert "unknown ['fp4']" in result.stderr and "dynamic" in result.stderr


def test_the_entrypoint_is_declared():
    text = (REPO / "pyproject.toml").read_text()
    assert 'resume-ner-convert = "resume_ner.convert.__main__:main"' in text
