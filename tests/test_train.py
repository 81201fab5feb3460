"""The training loop lowers the loss, honours its schedule, and touches only adapters."""

import copy

import torch

from methods.qlora import QLoRA
from suite.spec import Budget, TrainSpec
from suite.train import collate, cosine_lambda, total_steps, train
from tasks.base import parse_source
from tasks.wikitext2 import WikiText2


def held_out_loss(model, batch):
    with torch.no_grad():
        return model(**batch).loss.item()


def test_a_few_steps_lower_the_loss_on_the_sample_data(smollm2):
    model, tok = smollm2
    task = WikiText2()
    examples = task.train_data(tok, 64, parse_source("sample"), max_examples=40)
    probe = collate(examples[-4:], tok.pad_token_id)
    prepared = QLoRA().prepare(copy.deepcopy(model), Budget(bits=4, rank=8), None, seed=0)
    before = held_out_loss(prepared.model, probe)
    frozen = {n: p.clone() for n, p in prepared.model.named_parameters() if not p.requires_grad}
    spec = TrainSpec(steps=6, batch_size=2, seq_len=64, lr=2e-3, warmup_ratio=0.1, lora_dropout=0)
    result = train(prepared.model, examples[:-4], spec, "cpu", seed=0, pad_id=tok.pad_token_id)
    after = held_out_loss(prepared.model, probe)
    assert after < before - 0.05, (before, after)
    assert result.steps == 6 and len(result.losses) == 6 and result.tokens == 6 * 2 * 64
    assert result.tokens_per_s > 0
    for n, p in prepared.model.named_parameters():
        if n in frozen:
            assert torch.equal(p, frozen[n]), n


def test_cosine_schedule_with_warmup():
    f = cosine_lambda(warmup=10, total=110)
    assert f(0) < f(5) < f(9) <= 1.0
    assert abs(f(10) - 1.0) < 1e-9 and abs(f(60) - 0.5) < 1e-9 and f(109) < 0.01


def test_step_count_from_epochs_and_accumulation():
    assert total_steps(TrainSpec(epochs=2, batch_size=4, grad_accum=2), 40) == 10
    assert total_steps(TrainSpec(steps=7), 40) == 7


def test_collate_masks_padding_out_of_the_loss():
    ex = [
        {"input_ids": torch.tensor([5, 6, 7]), "labels": torch.tensor([-100, 6, 7])},
        {"input_ids": torch.tensor([8]), "labels": torch.tensor([8])},
    ]
    batch = collate(ex, pad_id=0)
    assert batch["labels"].tolist() == [[-100, 6, 7], [8, -100, -100]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]


def test_collate_keeps_an_examples_own_attention_mask():
    masked = {
        "input_ids": torch.tensor([5, 6, 7]),
        "labels": torch.tensor([-100, 6, 7]),
        "attention_mask": torch.tensor([0, 1, 1]),
    }
    plain = {"input_ids": torch.tensor([8, 9]), "labels": torch.tensor([8, 9])}
    batch = collate([masked, plain], pad_id=0)
    assert batch["attention_mask"].tolist() == [[0, 1, 1], [1, 1, 0]]
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 9, 0]]
    assert batch["labels"].tolist() == [[-100, 6, 7], [8, 9, -100]]
