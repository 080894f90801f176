"""Where a site's models are trained, retrained and served: the four patterns of the reference design.

Pure functions over dataclasses, no Django: ``decide(profile, candidates)`` takes a site's compute,
link and policy and the candidate artefacts with their measured size, latency, accuracy and
training cost, and returns one of

1. central: training, retraining and inference on the central server (Figure 4);
2. edge: training, retraining and inference at the edge (Figure 5);
3. central ETL: heavy ETL of batch data centrally, training and inference at the edge (Figure 6);
4. central initial training, retraining (a head, by transfer learning) and inference at the edge (Figure 7);

with the artefact to serve, the predicted latencies and transfer volumes, the reasons, and why every
other pattern was rejected. The rules and every assumed constant are tabled in docs/placement.md.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace

from ml.fleet.placement_reasons import duration, megabytes, not_preferred, reasons

PATTERN_NAMES = {
    1: "central: train, retrain and infer centrally",
    2: "edge: train, retrain and infer at the edge",
    3: "central ETL: heavy ETL centrally, training and inference at the edge",
    4: "central initial training: retraining and inference at the edge",
}
NO_PLACEMENT = "no placement: no pattern meets this site's constraints"
DAY_S = 86_400.0


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
            size_bytes=6_700_000,
            latency_ms=0.57,
            accuracy=round(teacher_accuracy * 0.97, 4),  # the least a student may keep of the teacher
            serve_memory_mb=84.0,
            full_train_examples_per_s=159.0,
            full_train_memory_mb=600.0,
            head_train_examples_per_s=1_750.0,
        ),
    ]


@dataclass
class PlacementDecision:
    pattern: int | None
    pattern_name: str
    artefact: str | None
    predicted_edge_latency_ms: float | None  # the artefact served at the site; None if it cannot run there
    central_round_trip_ms: float | None  # RTT + central inference + payload; None without an uplink
    model_update_bytes: int
    model_update_seconds: float | None  # None: cannot be sent (no uplink)
    model_update_bytes_per_month: int
    model_update_seconds_per_month: float | None
    data_uplink_bytes_per_day: int
    data_uplink_seconds_per_day: float | None
    reasons: list[str]
    rejected: dict[int, str]
    warnings: list[str] = field(default_factory=list)
    candidates: list[dict] = field(default_factory=list)

    def to_json(self) -> dict:
        data = asdict(self)
        data["rejected"] = {str(k): v for k, v in sorted(self.rejected.items())}
        return data


# --- Arithmetic ------------------------------------------------------------------------------------


def compute_ratio(profile: SiteProfile, a: Assumptions) -> float:
    """The site's speed relative to the reference machine (0: no compute at the site)."""
    useful = min(profile.cpu_cores, a.max_useful_threads) * profile.cpu_ghz
    ratio = useful / (min(a.reference_cores, a.max_useful_threads) * a.reference_ghz)
    return ratio * (a.accelerator_speedup if profile.accelerator.strip() else 1.0)


def transfer_seconds(n_bytes: float, mbps: float) -> float | None:
    if n_bytes <= 0:
        return 0.0
    if mbps <= 0:
        return None
    return n_bytes * 8 / (mbps * 1e6)


def _r(x: float | None, digits: int = 3) -> float | None:
    return None if x is None else round(x, digits)


# --- Per-candidate evaluation ---------------------------------------------------------------------


def _evaluate(c: CandidateModel, p: SiteProfile, a: Assumptions, ratio: float) -> dict:
    """What this candidate would cost at this site, and each constraint it breaks."""
    memory = p.memory_mb * a.edge_memory_share
    latency = None if ratio <= 0 else (c.latency_ms + a.tokenize_ms) / ratio
    full_train_s = (
        None
        if ratio <= 0 or c.full_train_examples_per_s <= 0
        else a.initial_training_examples * a.initial_training_epochs / (c.full_train_examples_per_s * ratio)
    )
    head_train_s = (
        None
        if ratio <= 0 or c.head_train_examples_per_s <= 0
        else a.retraining_examples / (c.head_train_examples_per_s * ratio)
    )
    update_s = transfer_seconds(c.size_bytes, p.uplink_mbps)
    serve = []  # why it cannot be served at the site at all
    if ratio <= 0:
        serve.append("the site has no compute")
    if c.serve_memory_mb > memory:
        serve.append(f"needs {c.serve_memory_mb:,.0f} MB to serve, the agent may use {memory:,.0f} MB")
    if c.size_bytes * a.storage_copies > p.storage_gb * 1e9:
        serve.append(
            f"{a.storage_copies} copies of {megabytes(c.size_bytes)} exceed {p.storage_gb:g} GB of storage"
        )
    slow = latency is not None and latency > p.latency_budget_ms
    full = []
    if c.full_train_memory_mb > memory:
        full.append(
            f"full training needs {c.full_train_memory_mb:,.0f} MB, the agent may use {memory:,.0f} MB"
        )
    if full_train_s is None or full_train_s > a.training_window_s:
        full.append(
            f"full training takes {duration(full_train_s)}, over the {duration(a.training_window_s)} window"
        )
    head = (
        []
        if head_train_s is not None and head_train_s <= a.training_window_s
        else ["head retraining too slow"]
    )
    transfer = []
    if update_s is None:
        transfer.append("no uplink to ship it")
    elif update_s > a.max_update_transfer_s:
        transfer.append(
            f"{megabytes(c.size_bytes)} takes {duration(update_s)} over the link, "
            f"over {duration(a.max_update_transfer_s)}"
        )
    return {
        "name": c.name,
        "role": c.role,
        "precision": c.precision,
        "version": c.version,
        "source": c.source,
        "size_bytes": c.size_bytes,
        "accuracy": c.accuracy,
        "site_latency_ms": _r(latency),
        "full_training_s": _r(full_train_s, 1),
        "head_training_s": _r(head_train_s, 1),
        "update_transfer_s": _r(update_s, 1),
        "serve_problems": serve,
        "over_budget": slow,
        "full_training_problems": full,
        "head_training_problems": head,
        "transfer_problems": transfer,
    }


def _choose_edge(
    evaluations: list[dict], best_accuracy: float, a: Assumptions, *, full_training: bool, shipped: bool
) -> dict:
    """The smallest artefact that serves within the budget and the accuracy tolerance.

    Returns {"artefact": evaluation or None, "warnings", "why_none", "blocked": {name: [problems]}}.
    """
    pool, blockers, blocked = [], [], {}
    for e in evaluations:
        problems = list(e["serve_problems"])
        if e["over_budget"]:
            problems.append(f"predicts {e['site_latency_ms']} ms, over the latency budget")
        if full_training:
            problems += e["full_training_problems"]
        else:
            problems += e["head_training_problems"]
        if shipped:
            problems += e["transfer_problems"]
        if problems:
            blockers.append(f"{e['name']}: {'; '.join(problems)}")
            blocked[e["name"]] = problems
        else:
            pool.append(e)
    result = {"artefact": None, "warnings": [], "why_none": "", "blocked": blocked}
    if not pool:
        result["why_none"] = (
            "no artefact fits (" + " | ".join(blockers) + ")" if blockers else "no candidate models"
        )
        return result
    good = [e for e in pool if e["accuracy"] >= best_accuracy - a.accuracy_tolerance - 1e-9]
    if good:
        result["artefact"] = min(good, key=lambda e: (e["size_bytes"], e["site_latency_ms"]))
        return result
    pick = max(pool, key=lambda e: (e["accuracy"], -e["size_bytes"]))
    result["artefact"] = pick
    result["warnings"].append(
        f"{pick['name']} (accuracy {pick['accuracy']:.3f}) is the most accurate artefact that fits, "
        f"but it is more than {a.accuracy_tolerance:.2f} below the best ({best_accuracy:.3f})"
    )
    return result


# --- The decision ---------------------------------------------------------------------------------


def decide(
    profile: SiteProfile, candidates: list[CandidateModel], assumptions: Assumptions | None = None
) -> PlacementDecision:
    """Choose the pattern and artefact for one site; see docs/placement.md for the rules."""
    a = assumptions or Assumptions()
    p = profile
    ratio = compute_ratio(p, a)
    evaluations = [_evaluate(c, p, a, ratio) for c in candidates]
    by_name = {e["name"]: e for e in evaluations}
    best = max(candidates, key=lambda c: (c.accuracy, -c.size_bytes), default=None)
    best_accuracy = best.accuracy if best else 0.0
    budget = p.latency_budget_ms

    central_rt = None
    if best is not None and p.uplink_mbps > 0:
        payload_s = transfer_seconds(a.request_bytes + a.response_bytes, p.uplink_mbps) or 0.0
        central_rt = p.rtt_ms + best.latency_ms / a.central_speedup + payload_s * 1000

    ticket_uplink = p.tickets_per_day * a.ticket_bytes
    edge_uplink = p.tickets_per_day * a.prediction_record_bytes
    batch_bytes = p.batch_data_mb_per_day * 1e6
    uplink_capacity_s = DAY_S * a.max_uplink_share
    etl_s = None if ratio <= 0 else batch_bytes / 1e6 / (a.etl_mb_per_s * ratio)
    edge_etl_ok = batch_bytes <= 0 or (etl_s is not None and etl_s <= a.etl_window_s)
    etl_problem = (
        ""
        if edge_etl_ok
        else f"the edge cannot run the ETL of {p.batch_data_mb_per_day:,.0f} MB/day of raw batch data "
        f"({duration(etl_s)} a day, over the {duration(a.etl_window_s)} window)"
    )

    feasible: dict[int, dict] = {}
    rejected: dict[int, str] = {}

    # Pattern 1: everything central.
    problems = []
    if best is None:
        problems.append("no candidate models")
    if p.data_must_stay_local:
        problems.append(
            "this site's data must stay at the site; central inference and training ship every ticket"
        )
    if p.uplink_mbps <= 0:
        problems.append("there is no uplink to central")
    elif central_rt is not None and central_rt > budget:
        problems.append(
            f"the round trip to central takes {central_rt:,.1f} ms (RTT {p.rtt_ms:g} ms + inference), "
            f"over the {budget:g} ms latency budget"
        )
    up_s = transfer_seconds(ticket_uplink, p.uplink_mbps)
    if up_s is not None and up_s > uplink_capacity_s:
        problems.append(
            f"uplinking {megabytes(ticket_uplink)}/day of tickets takes {duration(up_s)}, over the ML share"
        )
    if problems:
        rejected[1] = "; ".join(problems)
    else:
        feasible[1] = {"artefact": by_name[best.name], "update": 0, "uplink": ticket_uplink}

    # Pattern 2: everything at the edge, trained on this site's data only.
    edge = _choose_edge(evaluations, best_accuracy, a, full_training=True, shipped=False)
    local_examples = p.tickets_per_day * a.local_history_days
    problems = [edge["why_none"]] if edge["artefact"] is None else []
    if etl_problem:
        problems.append(etl_problem)
    if local_examples < a.min_local_training_examples:
        problems.append(
            f"a year of this site's tickets ({local_examples:,}) is below the "
            f"{a.min_local_training_examples:,} examples an initial training needs"
        )
    if problems:
        rejected[2] = "; ".join(problems)
    else:
        feasible[2] = {**edge, "update": 0, "uplink": edge_uplink}

    # Pattern 3: heavy ETL centrally, the reduced data and transform come back, light training at the edge.
    edge = _choose_edge(evaluations, best_accuracy, a, full_training=False, shipped=True)
    problems = [edge["why_none"]] if edge["artefact"] is None else []
    batch_s = transfer_seconds(batch_bytes, p.uplink_mbps)
    if p.data_must_stay_local:
        problems.append("this site's data must stay at the site; its raw batches cannot go to central")
    if batch_bytes <= 0:
        problems.append("the site has no raw batch data: there is no heavy ETL to centralise")
    elif batch_s is None:
        problems.append("there is no uplink for the raw batch data")
    elif batch_s > uplink_capacity_s:
        problems.append(
            f"uplinking {megabytes(batch_bytes)}/day of raw batches takes {duration(batch_s)}, "
            "over the ML share"
        )
    days_per_update = 30.0 / a.updates_per_month
    reduced = int(batch_bytes * a.etl_reduction_ratio * days_per_update) + a.transform_bytes
    if problems:
        rejected[3] = "; ".join(problems)
    else:
        feasible[3] = {
            **edge,
            "update": reduced,
            "uplink": edge_uplink + int(batch_bytes),
        }

    # Pattern 4: initial training central (pooled data), head retraining and inference at the edge.
    edge = _choose_edge(evaluations, best_accuracy, a, full_training=False, shipped=True)
    problems = [edge["why_none"]] if edge["artefact"] is None else []
    if etl_problem:
        problems.append(etl_problem + " that its retraining needs")
    if problems:
        rejected[4] = "; ".join(problems)
    else:
        feasible[4] = {
            **edge,
            "update": edge["artefact"]["size_bytes"],
            "uplink": edge_uplink,
        }

    # Preference: central when it can serve; else the data-local site keeps its whole lifecycle (2),
    # any other site takes the pooled-data initial model (4), then all-edge (2), then central ETL (3).
    order = [1, 2, 4, 3] if p.data_must_stay_local else [1, 4, 2, 3]
    chosen = next((n for n in order if n in feasible), None)
    why = reasons(chosen, p, a, central_rt, ratio, etl_problem, feasible, by_name)
    for n in feasible:
        if n != chosen:
            rejected[n] = not_preferred(n, chosen, p)

    if chosen is None:
        return PlacementDecision(
            pattern=None,
            pattern_name=NO_PLACEMENT,
            artefact=None,
            predicted_edge_latency_ms=None,
            central_round_trip_ms=_r(central_rt),
            model_update_bytes=0,
            model_update_seconds=0.0,
            model_update_bytes_per_month=0,
            model_update_seconds_per_month=0.0,
            data_uplink_bytes_per_day=0,
            data_uplink_seconds_per_day=0.0,
            reasons=why,
            rejected=rejected,
            candidates=evaluations,
        )
    f = feasible[chosen]
    art = f["artefact"]
    update_s = transfer_seconds(f["update"], p.uplink_mbps)
    monthly = int(f["update"] * a.updates_per_month)
    warnings = list(f.get("warnings", []))
    if chosen in (3, 4) and p.data_must_stay_local:
        warnings.append("the central initial model is trained on other sites' pooled data only")
    return PlacementDecision(
        pattern=chosen,
        pattern_name=PATTERN_NAMES[chosen],
        artefact=art["name"],
        predicted_edge_latency_ms=None if art["serve_problems"] else art["site_latency_ms"],
        central_round_trip_ms=_r(central_rt),
        model_update_bytes=int(f["update"]),
        model_update_seconds=_r(update_s, 1),
        model_update_bytes_per_month=monthly,
        model_update_seconds_per_month=_r(transfer_seconds(monthly, p.uplink_mbps), 1),
        data_uplink_bytes_per_day=int(f["uplink"]),
        data_uplink_seconds_per_day=_r(transfer_seconds(f["uplink"], p.uplink_mbps), 3),
        reasons=why,
        rejected=rejected,
        warnings=warnings,
        candidates=evaluations,
    )


def with_overrides(profile: SiteProfile, **changes) -> SiteProfile:
    """A copy of the profile with some fields changed (the what-if form's starting point)."""
    return replace(profile, **changes)
