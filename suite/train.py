"""The one fine-tuning loop every method goes through.

AdamW over the trainable LoRA parameters only, a cosine schedule with linear warm-up, gradient
accumulation, bf16 autocast where the device supports it (CUDA with bf16; CPU runs float32),
optional gradient checkpointing; the same code on CUDA and CPU. Examples are dicts with
``input_ids`` and ``labels`` (-100 marks tokens that carry no loss) and, where a task's format
masks some of its own tokens from attention (ApiQ's leading pad token), ``attention_mask``;
they are right-padded per batch. The loop does not wait for the device inside a step: the
losses are read every ``READ_EVERY`` steps (a non-finite one still fails the run naming its
step), and the throughput meter synchronises only where it reads a time.

    >>> import torch
    >>> from methods.qlora import QLoRA
    >>> from suite import models
    >>> from suite.spec import Budget, TrainSpec
    >>> model, tok = models.load(models.resolve("synthetic:tiny"), None, "cpu", torch.float32)
    >>> prepared = QLoRA().prepare(model, Budget(bits=4, rank=8), calib=None, seed=0)
    >>> ids = tok("The cat sat on the mat. " * 4, return_tensors="pt").input_ids[0]
    >>> examples = [{"input_ids": ids, "labels": ids}] * 8
    >>> spec = TrainSpec(steps=10, batch_size=2, lr=1e-2, lora_dropout=0.1)  # qlora's dropout
    >>> result = train(prepared.model, examples, spec, device="cpu", seed=0)
    >>> result.steps, result.tokens, result.losses[-1][1] < result.losses[0][1]
    (10, 1920, True)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from suite.measure import Throughput
from suite.quant.qlinear import QLinear
from suite.spec import TrainSpec


@dataclass
class TrainResult:
    losses: list[tuple[int, float]] = field(default_factory=list)  # (optimizer step, mean loss)
    steps: int = 0
    tokens: int = 0
    tokens_per_s: float = 0.0
    bf16: bool = False


def use_bf16(spec: TrainSpec, device: str) -> bool:
    if spec.bf16 == "off":
        return False
    cuda_bf16 = str(device).startswith("cuda") and torch.cuda.is_bf16_supported()
    if spec.bf16 == "on" and not cuda_bf16:
        return str(device) == "cpu"  # asked for explicitly: CPU autocast supports bf16 too
    return cuda_bf16


def total_steps(spec: TrainSpec, n_examples: int) -> int:
    if spec.steps:
        return spec.steps
    per_epoch = math.ceil(n_examples / (spec.batch_size * spec.grad_accum))
    return max(1, math.ceil(per_epoch * spec.epochs))


def cosine_lambda(warmup: int, total: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def collate(batch: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a list of examples into input_ids, labels and attention_mask tensors (an
    example's own ``attention_mask``, when it has one, else ones over its tokens)."""
    width = max(ex["input_ids"].numel() for ex in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), -100, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for i, ex in enumerate(batch):
        n = ex["input_ids"].numel()
        ids[i, :n] = ex["input_ids"]
        labels[i, :n] = ex["labels"]
        mask[i, :n] = ex.get("attention_mask", 1)
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def micro_rows(spec: TrainSpec, vocabulary: int) -> int:
    """Rows per forward: ``micro_batch``; else, with ``micro_logits``, the most whole
    ``batch_size`` groups that divide the step and whose logits (rows x seq_len x vocabulary)
    stay within ``micro_logits`` elements (at least one group); else ``batch_size``.

    >>> spec = TrainSpec(batch_size=4, grad_accum=16, seq_len=1024, micro_logits=2**31)
    >>> micro_rows(spec, 49_152), micro_rows(spec, 262_144)  # SmolLM2's, Gemma 3's vocabulary
    (32, 8)
    """
    if spec.micro_batch:
        return spec.micro_batch
    if not spec.micro_logits:
        return spec.batch_size
    step = spec.batch_size * spec.grad_accum
    fits = [
        rows
        for rows in range(spec.batch_size, step + 1, spec.batch_size)
        if step % rows == 0 and rows * spec.seq_len * vocabulary <= spec.micro_logits
    ]
    return max(fits, default=spec.batch_size)


def _vocabulary(model: nn.Module) -> int:
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if head is None or not hasattr(head, "weight"):
        raise ValueError("train.micro_logits needs a model with an output embedding (lm_head)")
    return int(head.weight.shape[0])


def group_loss(logits: torch.Tensor, labels: torch.Tensor, group: int) -> torch.Tensor:
    """The causal LM loss of each ``group`` consecutive rows (the mean over its label tokens,
    computed as ``transformers``' causal LM loss computes it), summed over the groups.

    With one group per forward this is the model's own ``loss``; with several, one forward
    gives what that many forwards of ``group`` rows would (:attr:`TrainSpec.micro_batch`).
    """
    shifted = F.pad(labels, (0, 1), value=-100)[..., 1:]
    total = logits.new_zeros((), dtype=torch.float32)
    for start in range(0, logits.shape[0], group):
        part = logits[start : start + group].float()
        target = shifted[start : start + group].contiguous()
        total = total + F.cross_entropy(
            part.view(-1, part.shape[-1]), target.view(-1), ignore_index=-100
        )
    return total


def batches(examples: list[dict], batch_size: int, generator: torch.Generator):
    """An endless stream of shuffled mini-batches (a fresh permutation each epoch)."""
    while True:
        order = torch.randperm(len(examples), generator=generator).tolist()
        for start in range(0, len(order) - batch_size + 1, batch_size):
            yield [examples[i] for i in order[start : start + batch_size]]
        if len(order) < batch_size:
            yield [examples[i] for i in order]


READ_EVERY = 8  # optimizer steps between reads of the losses (each read waits for the device)


def _read_losses(pending, result: TrainResult, progress) -> None:
    """Move the pending steps' losses to the host (one wait for the device), record them in
    order (each step's the sum of its micro-batches', added up as floats in their order), fail
    on the first non-finite one, and advance the progress bar."""
    values = iter(torch.stack([x for _, micro in pending for x in micro]).tolist())
    for step, micro in pending:
        step_loss = 0.0
        for _ in micro:
            step_loss += next(values)
        if not math.isfinite(step_loss):
            raise FloatingPointError(f"training loss is {step_loss} at step {step}")
        result.losses.append((step, step_loss))
        if progress:
            progress(1, loss=step_loss)


def train(
    model: nn.Module,
    examples: list[dict],
    spec: TrainSpec,
    device: str,
    seed: int,
    pad_id: int = 0,
    progress: Callable[..., None] | None = None,
) -> TrainResult:
    """Fine-tune the trainable parameters of ``model`` in place; return losses and throughput."""
    if not examples:
        raise ValueError("no training examples: the task's training split is empty")
    torch.manual_seed(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters")
    if spec.lora_dropout is None:
        raise ValueError(
            "train.lora_dropout is not resolved; allowed: a value in [0, 1), or a spec from the "
            "sweep, which fills in the method's own (Method.native_dropout)"
        )
    for mod in model.modules():
        if isinstance(mod, QLinear):
            mod.dropout = spec.lora_dropout
    opt = torch.optim.AdamW(params, lr=spec.lr, weight_decay=spec.weight_decay)
    steps = total_steps(spec, len(examples))
    warmup = int(spec.warmup_ratio * steps)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, cosine_lambda(warmup, steps))
    bf16 = use_bf16(spec, device)
    if spec.grad_checkpointing and hasattr(model, "gradient_checkpointing_enable"):
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if hasattr(model, "enable_input_require_grads"):
            model.enable_input_require_grads()
    model.train()
    stream = batches(examples, spec.batch_size, torch.Generator().manual_seed(seed))
    micro = micro_rows(spec, _vocabulary(model) if spec.micro_logits else 0)
    meter = Throughput(device, spec.warmup_steps_for_speed)
    result = TrainResult(bf16=bf16)
    dev_type = "cuda" if str(device).startswith("cuda") else "cpu"
    if progress:
        progress(0, total=steps)
    meter.start()
    pending: list[tuple[int, list[torch.Tensor]]] = []  # steps whose losses are still on the device
    for step in range(steps):
        step_tokens = 0
        micro_losses = []
        rows = [ex for _ in range(spec.grad_accum) for ex in next(stream)]
        for start in range(0, len(rows), micro):
            host = collate(rows[start : start + micro], pad_id)
            step_tokens += int(host["attention_mask"].sum())
            batch = {k: v.to(device) for k, v in host.items()}
            with torch.autocast(dev_type, dtype=torch.bfloat16, enabled=bf16):
                logits = model(
                    input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
                ).logits
            loss = group_loss(logits, batch["labels"], spec.batch_size) / spec.grad_accum
            loss.backward()
            micro_losses.append(loss.detach())
        if spec.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(params, spec.max_grad_norm)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        meter.step(step_tokens)
        result.tokens += step_tokens
        pending.append((step, micro_losses))
        if len(pending) >= READ_EVERY or step == steps - 1:
            _read_losses(pending, result, progress)
            pending = []
    result.steps = steps
    result.tokens_per_s = meter.rate()
    if spec.grad_checkpointing and hasattr(model, "gradient_checkpointing_disable"):
        model.gradient_checkpointing_disable()
    model.eval()
    return result
