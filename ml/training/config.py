"""Training configuration, kept as JSON on training runs and model versions."""

from dataclasses import asdict, dataclass, fields
from typing import Self


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
    patience: int = 2  # epochs the learning rate takes to reach zero once validation stops improving
    # a ceiling for fast hosts: below it the time budget decides how many epochs fit
    max_epochs: int = 10
    time_budget_s: float = 1800.0  # the whole fine-tune, loading and tokenising included
    domain_tokens: bool = True  # curated codes, event kinds and section markers as single tokens
    domain_token_min_count: int = 5
    eval_fraction: float = 0.2
    validation_fraction: float = 0.1
    # Validation chooses the mix: on a small export 10% is a few dozen tickets, too few to choose
    # on, so it gets up to this many (at most a quarter of the training part).
    min_validation: int = 200
