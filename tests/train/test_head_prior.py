"""model.head_bias_prior: a fresh head starts at the tag frequencies of the training windows."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from resume_ner.modeling import set_head_prior


class _Tagger(torch.nn.Module):
    def __init__(self, num_labels: int) -> None:
        super().__init__()
        self.classifier = torch.nn.Linear(4, num_labels)


def test_bias_is_the_smoothed_log_frequency_of_the_tags():
    windows = [
        SimpleNamespace(labels=[-100, 0, 0, 0, 1, 2, -100]),
        SimpleNamespace(labels=[-100, 0, 0, 1, -100]),
    ]
    model = _Tagger(4)
    assert set_head_prior(model, windows, 4)
    counts = torch.tensor([5.0, 2.0, 1.0, 0.0]) + 1  # -100 ignored; add-one for unseen tag 3
    torch.testing.assert_close(model.classifier.bias.detach(), (counts / counts.sum()).log())


def test_heads_it_cannot_set_are_left_alone():
    windows = [SimpleNamespace(labels=[0, 1])]
    assert not set_head_prior(torch.nn.Linear(2, 2), windows, 2)  # no classifier
    model = _Tagger(3)
    before = model.classifier.bias.detach().clone()
    assert not set_head_prior(model, windows, 5)  # another number of labels
    assert torch.equal(model.classifier.bias, before)


def test_the_trainer_starts_from_the_prior_only_when_asked(make_trainer, tmp_path):
    on = make_trainer(tmp_path / "on", "model.head_bias_prior=true")
    off = make_trainer(tmp_path / "off", "model.head_bias_prior=false")
    num_labels = on.model.config.num_labels
    labels = torch.tensor([tag for w in on.train_windows for tag in w.labels if tag >= 0])
    frequencies = (torch.bincount(labels, minlength=num_labels) + 1) / (len(labels) + num_labels)
    # at the start, the head's own belief (its bias) is the frequency of each tag: mostly O
    torch.testing.assert_close(on.model.classifier.bias.detach().softmax(0), frequencies)
    assert frequencies.argmax() == 0
    assert torch.equal(off.model.classifier.bias, torch.zeros(num_labels))
