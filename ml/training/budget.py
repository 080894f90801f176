"""Planning a fine-tune to its time budget: how many optimizer steps fit at the speed measured on
the machine that trains, and the learning-rate schedule over them."""

import math
import time
from collections.abc import Sequence

from ml.training.config import TrainingConfig
from ml.training.steps import TrainingSteps, adamw

# Training steps are chosen from the speed measured on the machine that trains (``measure_speed``):
# the same 2-core CPU has given 960 tokens/s on one host and 1,464 on another, and a GPU far more.
SPEED_PROBE_STEPS = 4  # timed whole training steps, after one untimed warm-up
# A probe that short erred by -7% and +33% on two 20,000-ticket runs on the same host: the plan is
# made again from the speed of this many real steps (when the first epoch is longer than that).
REPLAN_AFTER_STEPS = 50
SAVE_RESERVE_S = 15.0  # of the time budget, kept for saving (the last validation pass is timed)


def choose_steps(
    n_train: int,
    mean_tokens: float,
    tokens_per_s: float,
    config: TrainingConfig,
    *,
    n_validation: int = 0,
    budget_s: float | None = None,
) -> int:
    """Optimizer steps that fit the time budget at the measured speed: at most ``max_epochs``, a
    first epoch cut short when the budget cannot hold a whole one (the lexical and neighbour members
    still learn from every ticket; the budget is the promise), and a last epoch cut short rather
    than the budget left unused (on 2 cores,
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
    return int(max(1, min(config.max_epochs * steps_per_epoch, steps)))


def linear_schedule(step: int, total_steps: int, config: TrainingConfig) -> float:
    """The learning-rate factor at ``step``: linear warm-up over ``warmup_ratio`` of the steps, then
    linear decay to zero at ``total_steps`` (as transformers' ``get_linear_schedule_with_warmup``),
    computed from the plan in force, so a plan made again mid-run reshapes the rest of the curve."""
    warmup = int(total_steps * config.warmup_ratio)
    if step < warmup:
        return step / max(1, warmup)
    return max(0.0, (total_steps - step) / max(1, total_steps - warmup))


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
    steps = TrainingSteps(
        model=probe, optimizer=optimizer, loss_of=lambda b: loss_fn(probe(**b[0]).logits, b[1])
    )
    steps.run_one(batches[0])  # warm-up
    started = time.perf_counter()
    steps.run(batches[1:])
    tokens = sum(int(batch["attention_mask"].sum()) for batch, _ in batches[1:])
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - started
    torch.set_rng_state(rng_state)
    if cuda_state is not None:
        torch.cuda.set_rng_state_all(cuda_state)
    return tokens / max(elapsed, 1e-9)


def training_device():
    """The device fine-tuning and its validation run on: the GPU when torch sees one."""
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def device_name(device) -> str:
    """Where the fine-tune ran, for the manifest: ``cpu``, or ``cuda`` and the card's name."""
    import torch

    return f"cuda ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "cpu"
