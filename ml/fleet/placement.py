"""Where a site's models are trained, retrained and served: one of four placement patterns.

Pure functions over dataclasses, no Django: ``decide(profile, candidates)`` takes a site's compute,
link and policy and the candidate artefacts with their measured size, latency, accuracy and
training cost, and returns one of

1. central: training, retraining and inference on the central server;
2. edge: training, retraining and inference at the edge;
3. central ETL: heavy ETL of batch data centrally, training and inference at the edge;
4. central initial training, retraining (a head, by transfer learning) and inference at the edge;

with the artefact to serve, the predicted latencies and transfer volumes, the reasons, and why every
other pattern was rejected. The rules and every assumed constant are tabled in docs/placement.md.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from ml.fleet.placement_candidates import (
    NO_COMPUTE,
    choose_edge_artefact,
    evaluate_candidate,
    rounded,
    transfer_seconds,
)
from ml.fleet.placement_inputs import Assumptions, CandidateModel, SiteProfile, default_candidates
from ml.fleet.placement_reasons import duration, megabytes, not_preferred, reasons

__all__ = [
    "NO_PLACEMENT",
    "PATTERN_NAMES",
    "Assumptions",
    "CandidateModel",
    "PlacementDecision",
    "SiteProfile",
    "compute_ratio",
    "decide",
    "default_candidates",
    "transfer_seconds",
    "with_overrides",
]

PATTERN_NAMES = {
    1: "central: train, retrain and infer centrally",
    2: "edge: train, retrain and infer at the edge",
    3: "central ETL: heavy ETL centrally, training and inference at the edge",
    4: "central initial training: retraining and inference at the edge",
}
NO_PLACEMENT = "no placement: no pattern meets this site's constraints"
DAY_S = 86_400.0


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


# --- The decision ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Site:
    """What every pattern's rules read: the site, the constants and the figures derived from them."""

    profile: SiteProfile
    assumptions: Assumptions
    ratio: float  # the site's speed against the reference machine
    evaluations: list[dict]  # one per candidate artefact, from evaluate_candidate
    by_name: dict[str, dict]
    best: CandidateModel | None  # the most accurate candidate (the smallest among equals)
    central_round_trip_ms: float | None
    ticket_uplink_bytes: int  # a day of tickets sent to central
    prediction_uplink_bytes: int  # a day of edge prediction records sent to central
    batch_bytes: float  # a day of raw batch data
    uplink_capacity_s: float  # of a day's link time, what ML traffic may take
    etl_problem: str  # why the edge cannot run the ETL of its batch data; empty when it can

    @property
    def best_accuracy(self) -> float:
        return self.best.accuracy if self.best else 0.0

    def edge_artefact(self, *, full_training: bool, shipped: bool) -> dict:
        return choose_edge_artefact(
            self.evaluations,
            self.best_accuracy,
            self.assumptions,
            full_training=full_training,
            shipped=shipped,
        )


def _site(p: SiteProfile, candidates: list[CandidateModel], a: Assumptions) -> _Site:
    ratio = compute_ratio(p, a)
    evaluations = [evaluate_candidate(c, p, a, ratio) for c in candidates]
    best = max(candidates, key=lambda c: (c.accuracy, -c.size_bytes), default=None)
    central_rt = None
    if best is not None and p.uplink_mbps > 0:
        payload_s = transfer_seconds(a.request_bytes + a.response_bytes, p.uplink_mbps) or 0.0
        central_rt = p.rtt_ms + best.latency_ms / a.central_speedup + payload_s * 1000
    batch_bytes = p.batch_data_mb_per_day * 1e6
    etl_s = None if ratio <= 0 else batch_bytes / 1e6 / (a.etl_mb_per_s * ratio)
    edge_etl_ok = batch_bytes <= 0 or (etl_s is not None and etl_s <= a.etl_window_s)
    etl_problem = (
        ""
        if edge_etl_ok
        else f"the edge cannot run the ETL of {p.batch_data_mb_per_day:,.0f} MB/day of raw batch data "
        f"({duration(etl_s, NO_COMPUTE)} a day, over the {duration(a.etl_window_s)} window)"
    )
    return _Site(
        profile=p,
        assumptions=a,
        ratio=ratio,
        evaluations=evaluations,
        by_name={e["name"]: e for e in evaluations},
        best=best,
        central_round_trip_ms=central_rt,
        ticket_uplink_bytes=p.tickets_per_day * a.ticket_bytes,
        prediction_uplink_bytes=p.tickets_per_day * a.prediction_record_bytes,
        batch_bytes=batch_bytes,
        uplink_capacity_s=DAY_S * a.max_uplink_share,
        etl_problem=etl_problem,
    )


# Each pattern's rules: (the option, "") when the site can use it, (None, why not) when it cannot.
# An option names the artefact, the model-update bytes and the daily uplink bytes.


def _all_central(site: _Site) -> tuple[dict | None, str]:
    """Pattern 1: training, retraining and inference on the central server."""
    p, best, central_rt = site.profile, site.best, site.central_round_trip_ms
    problems = []
    if best is None:
        problems.append("no candidate models")
    if p.data_must_stay_local:
        problems.append(
            "this site's data must stay at the site; central inference and training ship every ticket"
        )
    if p.uplink_mbps <= 0:
        problems.append("there is no uplink to central")
    elif central_rt is not None and central_rt > p.latency_budget_ms:
        problems.append(
            f"the round trip to central takes {central_rt:,.1f} ms (RTT {p.rtt_ms:g} ms + inference), "
            f"over the {p.latency_budget_ms:g} ms latency budget"
        )
    up_s = transfer_seconds(site.ticket_uplink_bytes, p.uplink_mbps)
    if up_s is not None and up_s > site.uplink_capacity_s:
        problems.append(
            f"uplinking {megabytes(site.ticket_uplink_bytes)}/day of tickets takes {duration(up_s)}, "
            "over the ML share"
        )
    if problems or best is None:
        return None, "; ".join(problems)
    return {"artefact": site.by_name[best.name], "update": 0, "uplink": site.ticket_uplink_bytes}, ""


def _all_edge(site: _Site) -> tuple[dict | None, str]:
    """Pattern 2: everything at the edge, trained on this site's data only."""
    p, a = site.profile, site.assumptions
    edge = site.edge_artefact(full_training=True, shipped=False)
    local_examples = p.tickets_per_day * a.local_history_days
    problems = [edge["why_none"]] if edge["artefact"] is None else []
    if site.etl_problem:
        problems.append(site.etl_problem)
    if local_examples < a.min_local_training_examples:
        problems.append(
            f"a year of this site's tickets ({local_examples:,}) is below the "
            f"{a.min_local_training_examples:,} examples an initial training needs"
        )
    if problems:
        return None, "; ".join(problems)
    return {**edge, "update": 0, "uplink": site.prediction_uplink_bytes}, ""


def _central_etl(site: _Site) -> tuple[dict | None, str]:
    """Pattern 3: heavy ETL centrally; the reduced data come back for light training at the edge."""
    p, a, batch_bytes = site.profile, site.assumptions, site.batch_bytes
    edge = site.edge_artefact(full_training=False, shipped=True)
    problems = [edge["why_none"]] if edge["artefact"] is None else []
    batch_s = transfer_seconds(batch_bytes, p.uplink_mbps)
    if p.data_must_stay_local:
        problems.append("this site's data must stay at the site; its raw batches cannot go to central")
    if batch_bytes <= 0:
        problems.append("the site has no raw batch data: there is no heavy ETL to centralise")
    elif batch_s is None:
        problems.append("there is no uplink for the raw batch data")
    elif batch_s > site.uplink_capacity_s:
        problems.append(
            f"uplinking {megabytes(batch_bytes)}/day of raw batches takes {duration(batch_s)}, "
            "over the ML share"
        )
    if problems:
        return None, "; ".join(problems)
    days_per_update = 30.0 / a.updates_per_month
    reduced = int(batch_bytes * a.etl_reduction_ratio * days_per_update) + a.transform_bytes
    return {**edge, "update": reduced, "uplink": site.prediction_uplink_bytes + int(batch_bytes)}, ""


def _central_initial_training(site: _Site) -> tuple[dict | None, str]:
    """Pattern 4: initial training central (pooled data), head retraining and inference at the edge."""
    edge = site.edge_artefact(full_training=False, shipped=True)
    problems = [edge["why_none"]] if edge["artefact"] is None else []
    if site.etl_problem:
        problems.append(site.etl_problem + " that its retraining needs")
    if problems:
        return None, "; ".join(problems)
    return {**edge, "update": edge["artefact"]["size_bytes"], "uplink": site.prediction_uplink_bytes}, ""


PATTERN_RULES = {1: _all_central, 2: _all_edge, 3: _central_etl, 4: _central_initial_training}


def decide(
    profile: SiteProfile, candidates: list[CandidateModel], assumptions: Assumptions | None = None
) -> PlacementDecision:
    """Choose the pattern and artefact for one site; see docs/placement.md for the rules."""
    a = assumptions or Assumptions()
    site = _site(profile, candidates, a)
    feasible: dict[int, dict] = {}
    rejected: dict[int, str] = {}
    for pattern, rules in PATTERN_RULES.items():
        option, why_not = rules(site)
        if option is None:
            rejected[pattern] = why_not
        else:
            feasible[pattern] = option

    # Preference: central when it can serve; else the data-local site keeps its whole lifecycle (2),
    # any other site takes the pooled-data initial model (4), then all-edge (2), then central ETL (3).
    order = [1, 2, 4, 3] if profile.data_must_stay_local else [1, 4, 2, 3]
    chosen = next((n for n in order if n in feasible), None)
    why = reasons(
        chosen, profile, a, site.central_round_trip_ms, site.ratio, site.etl_problem, feasible, site.by_name
    )
    for n in feasible:
        if n != chosen:
            rejected[n] = not_preferred(n, chosen, profile)
    if chosen is None:
        return _no_placement(site, why, rejected)
    return _placement(site, chosen, feasible[chosen], why, rejected)


def _no_placement(site: _Site, why: list[str], rejected: dict[int, str]) -> PlacementDecision:
    return PlacementDecision(
        pattern=None,
        pattern_name=NO_PLACEMENT,
        artefact=None,
        predicted_edge_latency_ms=None,
        central_round_trip_ms=rounded(site.central_round_trip_ms),
        model_update_bytes=0,
        model_update_seconds=0.0,
        model_update_bytes_per_month=0,
        model_update_seconds_per_month=0.0,
        data_uplink_bytes_per_day=0,
        data_uplink_seconds_per_day=0.0,
        reasons=why,
        rejected=rejected,
        candidates=site.evaluations,
    )


def _placement(
    site: _Site, chosen: int, option: dict, why: list[str], rejected: dict[int, str]
) -> PlacementDecision:
    p, a = site.profile, site.assumptions
    artefact = option["artefact"]
    monthly = int(option["update"] * a.updates_per_month)
    warnings = list(option.get("warnings", []))
    if chosen in (3, 4) and p.data_must_stay_local:
        warnings.append("the central initial model is trained on other sites' pooled data only")
    return PlacementDecision(
        pattern=chosen,
        pattern_name=PATTERN_NAMES[chosen],
        artefact=artefact["name"],
        predicted_edge_latency_ms=None if artefact["serve_problems"] else artefact["site_latency_ms"],
        central_round_trip_ms=rounded(site.central_round_trip_ms),
        model_update_bytes=int(option["update"]),
        model_update_seconds=rounded(transfer_seconds(option["update"], p.uplink_mbps), 1),
        model_update_bytes_per_month=monthly,
        model_update_seconds_per_month=rounded(transfer_seconds(monthly, p.uplink_mbps), 1),
        data_uplink_bytes_per_day=int(option["uplink"]),
        data_uplink_seconds_per_day=rounded(transfer_seconds(option["uplink"], p.uplink_mbps), 3),
        reasons=why,
        rejected=rejected,
        warnings=warnings,
        candidates=site.evaluations,
    )


def with_overrides(profile: SiteProfile, **changes) -> SiteProfile:
    """A copy of the profile with some fields changed (the what-if form's starting point)."""
    return replace(profile, **changes)
