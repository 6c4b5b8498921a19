"""The weight average (training.ema_decay): its arithmetic, the swap, and what gets saved."""

from __future__ import annotations

import pytest
import torch

from resume_ner.train.averaging import WeightAverage


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    model[1].bias.requires_grad_(False)  # frozen parameters are not averaged
    return model


def test_average_follows_the_ramped_decay():
    model = _model()
    average = WeightAverage(model, decay=0.5)
    expected = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    assert set(average.shadow) == set(expected)
    for n in range(1, 6):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(float(n))
        average.update(model)
        d = min(0.5, (1 + n) / (10 + n))
        params = dict(model.named_parameters())
        for name in expected:
            expected[name] = d * expected[name] + (1 - d) * params[name].detach()
    for name, value in expected.items():
        torch.testing.assert_close(average.shadow[name], value)


def _after_one_step() -> tuple[torch.nn.Module, WeightAverage]:
    """A model whose weights moved once after its average started, and that average."""
    model = _model()
    average = WeightAverage(model, decay=0.9)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)
    average.update(model)
    return model, average


def test_swap_puts_the_average_in_and_the_raw_weights_back_even_on_error():
    model, average = _after_one_step()
    raw = {n: p.detach().clone() for n, p in model.named_parameters()}
    with pytest.raises(RuntimeError, match="inside"), average.swapped_in(model):
        params = dict(model.named_parameters())
        for name, value in average.shadow.items():
            assert torch.equal(params[name], value)
            assert not torch.equal(params[name], raw[name])
        # frozen parameters keep their value
        assert torch.equal(params["1.bias"], raw["1.bias"])
        raise RuntimeError("inside")
    for name, param in model.named_parameters():
        assert torch.equal(param, raw[name])


def test_state_round_trip_and_bad_values():
    model, average = _after_one_step()
    restored = WeightAverage(_model(), decay=0.9)
    restored.load_state_tensors(average.state_tensors(), updates=1)
    assert restored.updates == 1
    for name, value in average.shadow.items():
        assert torch.equal(restored.shadow[name], value)
    with pytest.raises(ValueError, match="lacks"):
        restored.load_state_tensors({}, updates=1)
    for bad in (1.0, -0.1):
        with pytest.raises(ValueError, match="ema_decay"):
            WeightAverage(model, decay=bad)


@pytest.mark.slow
def test_checkpoint_and_validation_use_the_average(train_inprocess, make_store, tmp_path):
    """With one epoch, the best checkpoint is that epoch's: it must hold the average, which
    the training state keeps beside (and distinct from) the raw weights."""
    from safetensors.torch import load_file

    run_dir = tmp_path / "run"
    train_inprocess(
        run_dir, "training.epochs=1", "training.ema_decay=0.8", store=make_store(tmp_path)
    )
    ckpt = run_dir / "checkpoint"
    saved = load_file(str(ckpt / "model.safetensors"))
    raw = load_file(str(ckpt / "training_state" / "model.safetensors"))
    average = load_file(str(ckpt / "training_state" / "average.safetensors"))
    assert average, "no weight average in the training state"
    differs = [n for n in average if not torch.equal(average[n], raw[n])]
    assert differs, "the average equals the raw weights: it was never applied"
    for name, value in average.items():
        assert torch.equal(saved[name], value), name


@pytest.mark.slow
def test_fit_ends_with_the_average_in_the_model(make_trainer, tmp_path):
    """After fit() the model holds what validation and the checkpoint saw (the benchmark
    scores these final weights)."""
    from safetensors.torch import load_file

    trainer = make_trainer(tmp_path, "training.epochs=1", "training.ema_decay=0.8")
    model = trainer.model
    trainer.fit()
    raw = load_file(str(tmp_path / "training_state" / "model.safetensors"))
    final = dict(model.named_parameters())
    assert trainer.average is not None
    for name, value in trainer.average.shadow.items():
        assert torch.equal(final[name].detach(), value), name
    assert any(not torch.equal(raw[n], v) for n, v in trainer.average.shadow.items())
