"""The words of a placement decision: why the chosen pattern suits a site, and why the others lost.

Pure functions, no Django, like ml/fleet/placement.py, whose ``decide`` calls them; kept apart so
the rules read without their prose.
"""


def megabytes(n_bytes: float) -> str:
    """A byte count as the reasons write it."""
    return f"{n_bytes / 1e6:,.1f} MB"


def duration(seconds: float | None, never: str = "never (no uplink)") -> str:
    """A transfer or training time as the reasons write it; None means it can never happen, for
    the reason ``never`` gives (a transfer: no uplink; work at the site: no compute there)."""
    if seconds is None:
        return never
    if seconds < 120:
        return f"{seconds:,.1f} s"
    if seconds < 7_200:
        return f"{seconds / 60:,.0f} min"
    return f"{seconds / 3_600:,.1f} h"


# --- Reasons --------------------------------------------------------------------------------------


def reasons(chosen, p, a, central_rt, ratio, etl_problem, feasible, by_name) -> list[str]:
    """Why ``chosen`` suits this site, in the words the fleet page and the API show."""
    if chosen is None:
        return ["no pattern is feasible for this site; see why each was rejected"]
    art = feasible[chosen]["artefact"]
    reasons = []
    if chosen == 1:
        reasons.append(
            f"central meets the {p.latency_budget_ms:g} ms latency budget ({central_rt:,.1f} ms round trip) "
            "and the link carries the tickets: the simplest pattern to run and scale"
        )
        reasons.append(f"central serves the most accurate artefact, {art['name']} ({art['accuracy']:.3f})")
        return reasons
    if central_rt is not None and central_rt > p.latency_budget_ms:
        reasons.append(
            f"the {p.latency_budget_ms:g} ms latency budget is below the {central_rt:,.1f} ms round trip "
            "to central: inference must run at the edge"
        )
    if p.data_must_stay_local:
        reasons.append("this site's data must stay at the site: no central training on it")
    if p.uplink_mbps <= 0:
        reasons.append("there is no uplink to central")
    f = feasible[chosen]
    if f["warnings"]:
        reasons.append(
            f"{art['name']} is the most accurate artefact that fits; it serves in "
            f"{art['site_latency_ms']} ms at this site ({ratio:.2f}x the reference machine)"
        )
    else:
        reasons.append(
            f"{art['name']} is the smallest artefact within {a.accuracy_tolerance:.2f} of the best accuracy "
            f"that serves in {art['site_latency_ms']} ms at this site ({ratio:.2f}x the reference machine)"
        )
    better = [
        f"{name} ({problems[0]})"
        for name, problems in f["blocked"].items()
        if by_name[name]["accuracy"] > art["accuracy"]
    ]
    if better:
        reasons.append("more accurate artefacts do not fit: " + "; ".join(better))
    if chosen == 2:
        reasons.append(
            f"the edge can train it fully in {duration(art['full_training_s'])} and has enough local data"
        )
    elif chosen == 3:
        reasons.append(etl_problem or "raw batch data is transformed centrally")
        reasons.append(
            f"central reduces the raw batches ({a.etl_reduction_ratio:.0%}) and sends back the reduced data "
            f"and transform; the edge trains on them in {duration(art['head_training_s'])}"
        )
    elif chosen == 4:
        reasons.append(
            "initial training stays central; "
            f"the edge retrains the head in {duration(art['head_training_s'])}"
            + (
                ""
                if not art["full_training_problems"]
                else f" ({art['full_training_problems'][0]} at the edge)"
            )
        )
    return reasons


def not_preferred(n: int, chosen: int | None, p) -> str:
    """Why feasible pattern ``n`` was passed over for ``chosen``."""
    if chosen == 1:
        return (
            "feasible, but pattern 1 is preferred: central meets the latency budget over this link, serves "
            "the most accurate model and is the simplest to run and scale"
        )
    if n == 2 and chosen == 4:
        return (
            "feasible, but pattern 4 is preferred: the initial model learns from the pooled data of all "
            "sites and the heavy training stays central; the edge only retrains"
        )
    if n == 4 and chosen == 2:
        return (
            "feasible with a central model trained without this site's data, but pattern 2 is preferred: "
            "the whole lifecycle stays on this site's own data"
        )
    if n == 3:
        return (
            f"feasible, but pattern {chosen} is preferred: the edge runs this site's ETL itself, "
            "so its raw batches need not cross the link"
        )
    return f"feasible, but pattern {chosen} is preferred"
