"""One candidate artefact at one site: what it would cost there, and which artefact an edge pattern
ships. Pure functions, no Django."""

from __future__ import annotations

from ml.fleet.placement_inputs import Assumptions, CandidateModel, SiteProfile
from ml.fleet.placement_reasons import duration, megabytes

NO_COMPUTE = "never (no compute at the site)"


def transfer_seconds(n_bytes: float, mbps: float) -> float | None:
    if n_bytes <= 0:
        return 0.0
    if mbps <= 0:
        return None
    return n_bytes * 8 / (mbps * 1e6)


def rounded(x: float | None, digits: int = 3) -> float | None:
    return None if x is None else round(x, digits)


def evaluate_candidate(c: CandidateModel, p: SiteProfile, a: Assumptions, ratio: float) -> dict:
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
            f"full training takes {duration(full_train_s, NO_COMPUTE)}, "
            f"over the {duration(a.training_window_s)} window"
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
        "site_latency_ms": rounded(latency),
        "full_training_s": rounded(full_train_s, 1),
        "head_training_s": rounded(head_train_s, 1),
        "update_transfer_s": rounded(update_s, 1),
        "serve_problems": serve,
        "over_budget": slow,
        "full_training_problems": full,
        "head_training_problems": head,
        "transfer_problems": transfer,
    }


def choose_edge_artefact(
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
