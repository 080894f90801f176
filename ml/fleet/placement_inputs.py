"""What the placement rules read: a site's profile, the candidate artefacts and every assumed
constant, with the artefacts' reference figures (docs/measurements.md) as defaults."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class SiteProfile:
    """What a site has (hardware, link to central) and what it needs (latency, volume, data policy)."""

    cpu_cores: int = 2
    cpu_ghz: float = 2.0
    memory_mb: int = 2048
    accelerator: str = ""  # empty: none; any name ("gpu", "npu") counts as one
    storage_gb: float = 16.0
    uplink_mbps: float = 20.0
    rtt_ms: float = 60.0
    latency_budget_ms: float = 1000.0
    tickets_per_day: int = 200
    data_must_stay_local: bool = False
    # Raw batch data (alarm logs, telemetry) the site's training data is extracted from each day.
    batch_data_mb_per_day: float = 0.0

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("accelerator", "data_must_stay_local"):
                continue
            if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
                raise ValueError(f"{f.name} must be a finite number, not {value!r}")
            if value < 0:
                raise ValueError(f"{f.name} must not be negative ({value})")


@dataclass(frozen=True)
class CandidateModel:
    """One artefact that could serve the site, with figures measured on the reference machine."""

    name: str  # e.g. "student_int8"
    role: str  # "teacher" | "student"
    precision: str  # "fp32" | "int8"
    size_bytes: int
    latency_ms: float  # one ticket, batch 1, on the reference machine
    accuracy: float  # on the central evaluation set
    serve_memory_mb: float  # peak RSS of a process serving it
    full_train_examples_per_s: float  # full fine-tuning on the reference machine
    full_train_memory_mb: float
    head_train_examples_per_s: float  # head-only retraining (feature extraction dominates)
    source: str = "default"  # "measured" when the figures come from the registry
    version: str = ""


@dataclass(frozen=True)
class Assumptions:
    """Every constant the rules use; docs/placement.md explains where each comes from."""

    reference_cores: int = 2  # the machine docs/measurements.md was measured on: 2 cores at 2.6 GHz
    reference_ghz: float = 2.6
    max_useful_threads: int = 4  # batch-1 inference and small-batch training gain little beyond this
    accelerator_speedup: float = 5.0
    central_speedup: float = 1.0  # central serves on at least the reference machine; conservative
    tokenize_ms: float = 0.14
    request_bytes: int = 4_096  # one ticket document to central
    response_bytes: int = 2_048  # recommendations back
    ticket_bytes: int = 4_096  # one ticket uplinked for central training
    prediction_record_bytes: int = 300  # one edge prediction reported to central (no raw text)
    edge_memory_share: float = 0.5  # the agent shares the box with the network function
    storage_copies: int = 3  # serving, incoming and rollback copies of the artefact
    accuracy_tolerance: float = 0.02  # "as good as the best" within this many points of accuracy
    max_uplink_share: float = 0.25  # of a day's link capacity that ML traffic may take
    max_update_transfer_s: float = 3_600.0  # one model update must arrive within an hour
    initial_training_examples: int = 20_000
    initial_training_epochs: int = 3
    retraining_examples: int = 2_000
    training_window_s: float = 8 * 3_600.0  # overnight
    min_local_training_examples: int = 5_000  # for an initial training on this site's data alone
    local_history_days: int = 365
    etl_mb_per_s: float = 5.0  # parsing and joining raw batch data on the reference machine
    etl_window_s: float = 2 * 3_600.0  # per day
    etl_reduction_ratio: float = 0.01  # reduced training data / raw batch data
    transform_bytes: int = 1_000_000  # the centrally learned projection sent with the reduced data
    updates_per_month: float = 4.0


def default_candidates(teacher_accuracy: float = 0.90) -> list[CandidateModel]:
    """The artefacts measured on the reference machine (docs/measurements.md); accuracies relative to
    the teacher until measured."""
    return [
        CandidateModel(
            name="teacher_fp32",
            role="teacher",
            precision="fp32",
            size_bytes=87_000_000,
            latency_ms=17.0,
            accuracy=teacher_accuracy,
            serve_memory_mb=444.0,
            full_train_examples_per_s=16.0,
            full_train_memory_mb=1_500.0,
            head_train_examples_per_s=59.0,
        ),
        CandidateModel(
            name="teacher_int8",
            role="teacher",
            precision="int8",
            size_bytes=22_000_000,
            latency_ms=4.4,
            accuracy=round(teacher_accuracy * 0.99, 4),  # int8 agreed with fp32 on ~99% of argmaxes
            serve_memory_mb=130.0,
            full_train_examples_per_s=16.0,  # trained in fp32, then quantized
            full_train_memory_mb=1_500.0,
            head_train_examples_per_s=227.0,
        ),
        CandidateModel(
            name="student_int8",
            role="student",
            precision="int8",
            # The default student, 1 layer of hidden 192 (docs/measurements.md).
            size_bytes=5_300_000,
            latency_ms=0.37,
            accuracy=round(teacher_accuracy * 0.97, 4),  # the least a student may keep of the teacher
            serve_memory_mb=84.0,
            full_train_examples_per_s=260.0,
            full_train_memory_mb=600.0,
            head_train_examples_per_s=1_750.0,
        ),
    ]
