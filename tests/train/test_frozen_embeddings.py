"""model.freeze_word_embeddings: the word-piece matrix stays as pretrained, the rest trains."""

from __future__ import annotations

import pytest
import torch


def _weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    embeddings = model.base_model.embeddings
    return {
        "words": embeddings.word_embeddings.weight.detach().clone(),
        "token types": embeddings.token_type_embeddings.weight.detach().clone(),
        "head": model.classifier.weight.detach().clone(),
    }


@pytest.mark.slow
@pytest.mark.parametrize("frozen", [True, False])
def test_word_embeddings_train_only_when_not_frozen(make_trainer, tmp_path, frozen):
    trainer = make_trainer(
        tmp_path, "training.epochs=1", f"model.freeze_word_embeddings={str(frozen).lower()}"
    )
    before = _weights(trainer.model)
    trainer.fit()
    after = _weights(trainer.model)
    assert torch.equal(before["words"], after["words"]) is frozen
    # the word classes (token types) and the head learn either way
    assert not torch.equal(before["token types"], after["token types"])
    assert not torch.equal(before["head"], after["head"])
    optimized = {id(p) for group in trainer.optimizer.param_groups for p in group["params"]}
    assert (id(trainer.model.get_input_embeddings().weight) in optimized) is not frozen


def test_minilm_freezes_them_by_default(compose_config):
    assert compose_config(base=False).model.freeze_word_embeddings is True
    assert compose_config("model=deberta", base=False).model.freeze_word_embeddings is False
