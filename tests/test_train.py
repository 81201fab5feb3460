"""The training loop lowers the loss, honours its schedule, and touches only adapters."""

import copy

import torch

from methods.qlora import QLoRA
from suite.spec import Budget, TrainSpec
from suite.train import batches, collate, cosine_lambda, total_steps, train
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


def _varied_examples(n: int, seed: int) -> list[dict]:
    """Examples of different lengths with a masked prompt part (as GSM8K's)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        width = int(torch.randint(8, 40, (1,), generator=g))
        ids = torch.randint(0, 256, (width,), generator=g)
        labels = ids.clone()
        labels[: width // 3] = -100
        out.append({"input_ids": ids, "labels": labels})
    return out


def _reference_losses(model, examples, spec: TrainSpec, seed: int) -> list[float]:
    """The loop as the released scripts' Trainer runs it: one forward per batch_size rows,
    the model's own mean loss divided by the accumulation, AdamW, clipping, cosine schedule."""
    torch.manual_seed(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=spec.lr, weight_decay=spec.weight_decay)
    steps = total_steps(spec, len(examples))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, cosine_lambda(int(spec.warmup_ratio * steps), steps)
    )
    stream = batches(examples, spec.batch_size, torch.Generator().manual_seed(seed))
    model.train()
    losses = []
    for _ in range(steps):
        total = 0.0
        for _ in range(spec.grad_accum):
            loss = model(**collate(next(stream), 0)).loss / spec.grad_accum
            loss.backward()
            total += loss.item()
        torch.nn.utils.clip_grad_norm_(params, spec.max_grad_norm)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        losses.append(total)
    return losses


def test_micro_batches_train_as_the_batch_size_forwards_do():
    """micro_batch 0 is the reference loop to the last bit; larger micro-batches (several
    batch_size groups per forward, padded to the longest row) give the same losses up to
    float32 rounding, on rows of different lengths."""
    from suite import models

    examples = _varied_examples(16, seed=1)
    spec = TrainSpec(steps=6, batch_size=2, grad_accum=4, lr=1e-2, lora_dropout=0.0)

    def fresh():
        model, _ = models.load(models.resolve("synthetic:tiny"), None, "cpu", torch.float32)
        return QLoRA().prepare(model, Budget(bits=4, rank=8), None, seed=0).model

    want = _reference_losses(fresh(), examples, spec, seed=0)
    got = {}
    for micro in (0, 4, 8):
        run = TrainSpec(**{**spec.__dict__, "micro_batch": micro})
        got[micro] = [loss for _, loss in train(fresh(), examples, run, "cpu", seed=0).losses]
    assert got[0] == want
    for micro in (4, 8):
        assert torch.allclose(torch.tensor(got[micro]), torch.tensor(want), rtol=1e-6), micro
    # micro_logits sizes the forwards from the model's vocabulary (259): 8 rows here
    auto = TrainSpec(**{**spec.__dict__, "micro_logits": 8 * spec.seq_len * 259})
    assert [loss for _, loss in train(fresh(), examples, auto, "cpu", seed=0).losses] == got[8]
    assert want[-1] < want[0] - 0.1  # the run learns, so the steps' losses depend on updates


def test_micro_logits_picks_the_most_whole_groups_within_the_logits_bound():
    from suite.train import micro_rows

    spec = TrainSpec(batch_size=4, grad_accum=4, seq_len=256, micro_logits=16 * 256 * 1000)
    assert micro_rows(spec, 1000) == 16  # the whole step
    assert micro_rows(spec, 1001) == 8  # 12 rows fit, but 12 does not divide 16
    assert micro_rows(spec, 10**9) == 4  # never below one group
    assert micro_rows(TrainSpec(batch_size=4, grad_accum=4, micro_batch=8), 10**9) == 8
    assert micro_rows(TrainSpec(batch_size=4, grad_accum=4), 1) == 4


def test_micro_batch_must_split_the_step_into_whole_groups():
    import pytest

    from suite.spec import SpecError

    for bad in (3, 6, 32, -4):
        with pytest.raises(SpecError, match="train.micro_batch"):
            TrainSpec(batch_size=2, grad_accum=8, micro_batch=bad)
    assert TrainSpec(batch_size=2, grad_accum=8, micro_batch=16).micro_batch == 16
    for bad in ({"micro_logits": -1}, {"micro_logits": 10, "micro_batch": 4}):
        with pytest.raises(SpecError, match="train.micro_logits"):
            TrainSpec(batch_size=2, grad_accum=8, **bad)


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


def test_a_non_finite_loss_fails_the_run_naming_its_step(monkeypatch):
    """Losses are read every few steps, not at each one; the error still names the first
    step whose loss was not finite (step 10, read with steps 8-15)."""
    import pytest

    from suite import models
    from suite import train as train_module

    model, _ = models.load(models.resolve("synthetic:tiny"), None, "cpu", torch.float32)
    prepared = QLoRA().prepare(model, Budget(bits=4, rank=8), None, seed=0).model
    calls = []
    real = train_module.group_loss

    def poisoned(logits, labels, group):
        calls.append(1)
        loss = real(logits, labels, group)
        return loss * float("nan") if len(calls) == 2 * 10 + 1 else loss  # step 10, 1st micro

    monkeypatch.setattr(train_module, "group_loss", poisoned)
    spec = TrainSpec(steps=20, batch_size=2, grad_accum=2, lr=1e-3, lora_dropout=0.0)
    with pytest.raises(FloatingPointError, match="at step 10$"):
        train(prepared, _varied_examples(8, seed=2), spec, "cpu", seed=0)
