"""Central side of the edge: enrolment, heartbeats, bundle assignment, agent reports,
pattern-3 ETL, and the per-site fleet summary. Prediction ingest is ml/fleet/predictions.py.

Views in ml/api/edge.py stay thin and call these functions.
"""

import logging
import secrets
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Avg, Count, F, Max, OuterRef, Q, Subquery, Sum
from django.utils import timezone

from edge_agent.local_etl import WORDS, etl_answer
from ml.core import bundles, signing
from ml.core.serialization import serialize
from ml.models import EdgeAgent, EdgeBundle, EdgePrediction, EdgeReport, EnrolmentToken
from ml.models.edge import hash_token
from ml.serving import merged
from repair_center import selectors
from ticketai.broker import enqueue_on_commit

logger = logging.getLogger(__name__)


class EnrolmentError(Exception):
    """The enrolment token is unknown, used or expired."""


# --- enrolment and authentication ---------------------------------------------------------------


def enrolment_token_issue(
    *, site, note: str = "", ttl_hours: int | None = None
) -> tuple[EnrolmentToken, str]:
    """A one-time enrolment token for ``site``; the raw value is returned once."""
    ttl = timedelta(hours=ttl_hours or settings.TICKETAI_EDGE_ENROLMENT_TTL_H)
    return EnrolmentToken.issue(site=site, ttl=ttl, note=note)


@transaction.atomic
def agent_enrol(*, token: str, name: str, capabilities: dict) -> tuple[EdgeAgent, str]:
    """Spend a one-time token on a new agent for its site; returns the agent and its raw token."""
    now = timezone.now()
    # A conditional update, so two agents racing with the same token cannot both win.
    claimed = EnrolmentToken.objects.filter(
        token_hash=hash_token(token), used_at__isnull=True, expires_at__gt=now
    ).update(used_at=now)
    if claimed != 1:
        raise EnrolmentError("unknown, used or expired enrolment token")
    enrolment = EnrolmentToken.objects.select_related("site").get(token_hash=hash_token(token))
    raw = "agt_" + secrets.token_urlsafe(32)
    agent = EdgeAgent.objects.create(
        site=enrolment.site,
        name=name[:200] or "agent",
        token_hash=hash_token(raw),
        capabilities=capabilities or {},
        last_seen=now,
    )
    EnrolmentToken.objects.filter(pk=enrolment.pk).update(agent=agent)
    logger.info("edge agent %s enrolled for site %s", agent.pk, enrolment.site.code)
    return agent, raw


def agent_for_token(raw: str) -> EdgeAgent | None:
    return (
        EdgeAgent.objects.select_related("site")
        .filter(token_hash=hash_token(raw), revoked_at__isnull=True)
        .first()
    )


_known_agents: dict[str, tuple[float, EdgeAgent]] = {}
_KNOWN_AGENTS_MAX = 100_000


def agent_for_token_cached(raw: str) -> EdgeAgent | None:
    """agent_for_token, remembered by this process for TICKETAI_EDGE_AUTH_CACHE_S seconds.

    Only for prediction posts, which read nothing of the agent but its id and site: a revoked
    token keeps posting for at most that long. Unknown tokens are never remembered.
    """
    ttl = settings.TICKETAI_EDGE_AUTH_CACHE_S
    if ttl <= 0:
        return agent_for_token(raw)
    key, now = hash_token(raw), time.monotonic()
    known = _known_agents.get(key)
    if known is not None and known[0] > now:
        return known[1]
    agent = agent_for_token(raw)
    if agent is None:
        _known_agents.pop(key, None)
    else:
        if len(_known_agents) >= _KNOWN_AGENTS_MAX:  # only valid tokens get here; bound it anyway
            _known_agents.clear()
        _known_agents[key] = (now + ttl, agent)
    return agent


def enrolment_answer(agent: EdgeAgent) -> dict:
    site = agent.site
    return {
        "agent_id": agent.pk,
        "agent_token": None,  # filled in by the caller, which alone has the raw value
        "site": {"code": site.code, "climate": site.climate, "tier": site.tier, "region": site.region},
        "public_key_pem": signing.public_key_pem(),
        "heartbeat_s": settings.TICKETAI_EDGE_HEARTBEAT_S,
    }


# --- heartbeat, placement and assignment --------------------------------------------------------


def _placement(agent: EdgeAgent, capabilities_changed: bool) -> dict | None:
    """The site's placement from ml.fleet.placement_service when that module is installed."""
    try:
        from ml.fleet import placement_service
    except ImportError:
        return None
    try:
        if capabilities_changed and agent.capabilities:
            return placement_service.site_capabilities_report(agent.site, agent.capabilities)
        return placement_service.site_placement(agent.site)
    except Exception:  # placement is advice; a failure there must not stop heartbeats
        logger.exception("placement for site %s failed", agent.site.code)
        return None


def bundle_for_agent(agent: EdgeAgent) -> EdgeBundle | None:
    """The newest active full bundle meant for the agent's site, else its tier, else any site."""
    active = EdgeBundle.objects.filter(active=True, kind=EdgeBundle.Kind.FULL)
    for scope in (
        Q(intended_site=agent.site),
        Q(intended_site__isnull=True, intended_tier=agent.site.tier),
        Q(intended_site__isnull=True, intended_tier=""),
    ):
        bundle = active.filter(scope).order_by("-created_at", "-id").first()
        if bundle is not None:
            return bundle
    return None


def installed_version(model_version: str) -> str:
    """The bundle an agent runs, from the version it serves (``b7+local``: b7 with a local head)."""
    return (model_version or "").removesuffix("+local")


def delta_for(bundle: EdgeBundle, installed: str) -> EdgeBundle | None:
    """The active delta from ``installed`` to ``bundle``, when central has made one."""
    if not installed or installed == bundle.version:
        return None
    return (
        EdgeBundle.objects.filter(
            active=True,
            kind=EdgeBundle.Kind.DELTA,
            base_version=installed,
            metrics__target_version=bundle.version,
        )
        .order_by("-created_at", "-id")
        .first()
    )


def assignment(bundle: EdgeBundle | None, installed: str = "") -> dict | None:
    """What the agent should run; with a delta offer when one patches the bundle it has installed."""
    if bundle is None:
        return None
    answer = {
        "bundle_version": bundle.version,
        "bundle_url": f"/api/v1/edge/bundles/{bundle.version}/",
        "sha256": bundle.sha256,
        "bytes": bundle.bytes,
    }
    delta = delta_for(bundle, installed)
    if delta is not None:
        answer.update(
            base_version=delta.base_version,
            delta_version=delta.version,
            delta_url=f"/api/v1/edge/bundles/{delta.version}/",
            delta_sha256=delta.sha256,
            delta_bytes=delta.bytes,
        )
    return answer


def agent_heartbeat(
    *,
    agent: EdgeAgent,
    capabilities: dict | None,
    backlog: int,
    model_version: str,
    status: dict | None = None,
) -> dict:
    """Record that the agent is alive and what it runs; answer with its placement and assignment."""
    changed = bool(capabilities) and capabilities != agent.capabilities
    fields = {
        "backlog": max(0, int(backlog)),
        "model_version": model_version or "",
        "last_seen": timezone.now(),
    }
    if changed:
        fields["capabilities"] = capabilities
    if status is not None:
        fields["last_status"] = status
    EdgeAgent.objects.filter(pk=agent.pk).update(**fields)
    for key, value in fields.items():
        setattr(agent, key, value)
    installed = installed_version(agent.model_version)
    return {
        "placement": _placement(agent, changed),
        "assignment": assignment(bundle_for_agent(agent), installed),
        "heartbeat_s": settings.TICKETAI_EDGE_HEARTBEAT_S,
        "merged": merged_labels(installed),
    }


def merged_labels(installed: str) -> dict[str, str]:
    """The labels of bundle ``installed`` that a merge has made aliases, with the code kept for each.

    The agent answers them as that code, their chances added up, as central answers a model trained
    before the merge (ml/serving/merged.py), until it runs a bundle trained after it. Empty when the
    bundle is unknown here or does not list its labels (``metrics["labels"]``, written by
    ml.compression.pipeline)."""
    if not installed:
        return {}
    metrics = EdgeBundle.objects.filter(version=installed).values_list("metrics", flat=True).first()
    labels = metrics.get("labels") if isinstance(metrics, dict) else None
    if not isinstance(labels, list) or not labels:
        return {}
    return merged.kept_codes([str(label) for label in labels])


def bundle_readable_by(bundle: EdgeBundle, agent: EdgeAgent) -> bool:
    return bundle.intended_site_id in (None, agent.site_id)


def bundle_release(
    *, path: str | Path, model_version=None, intended_tier: str = "", intended_site=None
) -> EdgeBundle:
    """Register a full bundle unoffered and queue its publication (deltas for the fleet, then offer)."""
    bundle = bundles.bundle_register(
        path=path,
        model_version=model_version,
        intended_tier=intended_tier,
        intended_site=intended_site,
        active=False,
    )
    enqueue_on_commit("ml.tasks.edge_publish_bundle", bundle.pk)
    return bundle


def fleet_versions(bundle: EdgeBundle) -> list[str]:
    """The bundle versions run now by the agents ``bundle`` is meant for (other than itself)."""
    agents = EdgeAgent.objects.filter(revoked_at__isnull=True)
    if bundle.intended_site_id:
        agents = agents.filter(site_id=bundle.intended_site_id)
    elif bundle.intended_tier:
        agents = agents.filter(site__tier=bundle.intended_tier)
    versions = {installed_version(v) for v in agents.values_list("model_version", flat=True).distinct()}
    return sorted(versions - {"", bundle.version})


def bundle_publish(*, bundle_id: int) -> dict:
    """Make a delta from every version the fleet runs to this bundle, then offer it.

    Deltas first: an agent that saw the bundle before its delta existed would download it whole.
    Idempotent: existing deltas are kept, and the offer is a conditional update.
    """
    bundle = EdgeBundle.objects.filter(pk=bundle_id, kind=EdgeBundle.Kind.FULL).first()
    if bundle is None:
        return {"bundle": bundle_id, "status": "missing"}
    try:
        bundles.verify_bundle(bundle.file, signing.public_key_pem())
    except bundles.BundleError as e:
        logger.error("bundle %s is not published: it does not verify (%s)", bundle.version, e)
        return {"bundle": bundle.version, "status": "refused", "error": str(e)}
    deltas, skipped = [], []
    for version in fleet_versions(bundle):
        existing = delta_for(bundle, version)
        base = EdgeBundle.objects.filter(version=version, kind=EdgeBundle.Kind.FULL).first()
        if existing is not None:
            deltas.append(existing.version)
            continue
        if base is None or not base.file.is_file():
            skipped.append(version)
            continue
        try:
            delta = bundles.delta_register(base=base, full=bundle)
        except bundles.BundleError as e:  # a base we no longer trust: its agents get the full bundle
            logger.warning("no delta from %s to %s: %s", version, bundle.version, e)
            skipped.append(version)
            continue
        if delta is None:  # not smaller than the full bundle
            skipped.append(version)
        else:
            deltas.append(delta.version)
    offered = EdgeBundle.objects.filter(pk=bundle.pk, active=False).update(active=True)
    logger.info("bundle %s published with deltas %s", bundle.version, deltas)
    return {
        "bundle": bundle.version,
        "status": "published",
        "deltas": deltas,
        "skipped": skipped,
        "offered": bool(offered),
    }


def report_record(*, agent: EdgeAgent, kind: str, metrics: dict) -> EdgeReport:
    """Keep an agent's report (metrics only) and log refusals loudly."""
    report = EdgeReport.objects.create(agent=agent, kind=kind[:64], metrics=metrics or {})
    if kind.endswith("refused") or kind.endswith("full"):
        logger.warning("edge agent %s (%s) reports %s: %s", agent.pk, agent.site.code, kind, metrics)
    return report


# --- pattern 3: heavy ETL centrally, training and inference at the edge -------------------------


def etl_fit(*, documents: list[dict], dims: int = 64, max_features: int = 5000) -> dict:
    """Fit TF-IDF + truncated SVD on a site's tickets; return the transform and the reduced data.

    The edge applies the transform with numpy (edge_agent/retrain.py) and trains a softmax on
    ``data``; sklearn is imported here only, so web processes that never run ETL never load it.
    """
    import numpy as np
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = [serialize(doc) for doc in documents]
    vectorizer = TfidfVectorizer(max_features=max_features, lowercase=True, token_pattern=WORDS)
    matrix = vectorizer.fit_transform(texts)
    n_components = max(1, min(dims, matrix.shape[1] - 1, len(texts) - 1))
    svd = TruncatedSVD(n_components=n_components, random_state=0)
    reduced = svd.fit_transform(matrix)
    # Tickets with nothing to tell apart have no variance: the ratios divide by zero (NaN), which
    # no JSON answer can carry (the hostile-input suite found it as a 500).
    variance = float(np.nan_to_num(svd.explained_variance_ratio_, nan=0.0).sum())
    vocabulary = {term: int(i) for term, i in vectorizer.vocabulary_.items()}
    answer = etl_answer(
        vocabulary,
        vectorizer.idf_.round(6).tolist(),
        np.nan_to_num(svd.components_).round(6).tolist(),
        np.nan_to_num(reduced).round(6).tolist(),
        documents,
    )
    return {**answer, "explained_variance": variance}


# --- the fleet, per site and version ------------------------------------------------------------


def _final_resolution():
    # Joined at read time on (source, external_id): the ticket may close long after the prediction.
    # Only a ticket of the prediction's own site (or of none) counts: a key another site's ticket
    # came to carry after the prediction arrived does not score this site's model.
    tickets = selectors.ticket_list().filter(
        Q(site_id=OuterRef("site_id")) | Q(site__isnull=True),
        source=OuterRef("source"),
        external_id=OuterRef("external_id"),
        resolution__isnull=False,
    )
    return Subquery(tickets.values("resolution__code")[:1])


def _champion_resolution():
    try:
        from ml.models.recommendations import Recommendation
    except ImportError:
        return None
    rows = Recommendation.objects.filter(
        ticket__source=OuterRef("source"),
        ticket__external_id=OuterRef("external_id"),
        model_version__status="champion",
        abstained=False,
    ).order_by("-created_at")
    return Subquery(rows.annotate(kept=merged.kept_code("top_resolution")).values("kept")[:1])


# Local learning: a head refitted on the shipped bundle (patterns 4 and undecided), or the site's own
# model trained on its own ETL (pattern 2), each judged on the site's hold-out against what served.
LEARNING_REPORTS = ("head_retrained", "head_kept", "site_model_trained", "site_model_kept")


def local_learning() -> dict[int, dict]:
    """By site id: the latest local retraining its agents reported (hold-out metrics, no tickets)."""
    latest = (
        EdgeReport.objects.filter(kind__in=LEARNING_REPORTS)
        .values("agent__site_id")
        .annotate(last=Max("id"))
        .values_list("last", flat=True)
    )
    reports = EdgeReport.objects.filter(pk__in=list(latest)).select_related("agent")
    return {r.agent.site_id: {**r.metrics, "kind": r.kind, "reported_at": r.created_at} for r in reports}


def fleet_summary() -> list[dict]:
    """Per site and model version: predictions and how many the agents abstained on, edge accuracy
    on closed tickets, agreement with the central champion, mean latency, backlog and last seen of
    the site's agents, and the site's latest local retraining (its local head against the shipped
    one on the site's hold-out)."""
    # A code merged into another since the prediction counts as the code kept (ml/serving/merged.py).
    queryset = EdgePrediction.objects.annotate(final=_final_resolution(), said=merged.kept_code("resolution"))
    champion = _champion_resolution()
    if champion is not None:
        queryset = queryset.annotate(central=champion)
    aggregates = {
        "predictions": Count("id"),
        "abstained": Count("id", filter=Q(abstained=True)),
        "closed": Count("id", filter=Q(final__isnull=False)),
        "correct": Count("id", filter=Q(final=F("said"))),
        "latency_ms": Avg("latency_ms"),
        "last_prediction": Max("predicted_at"),
    }
    if champion is not None:
        aggregates["compared"] = Count("id", filter=Q(central__isnull=False))
        aggregates["agreed"] = Count("id", filter=Q(central=F("said")))
    rows = queryset.values("site_id", "site__code", "model_version").annotate(**aggregates)
    agents = {
        row["site_id"]: row
        for row in EdgeAgent.objects.filter(revoked_at__isnull=True)
        .values("site_id")
        .annotate(agents=Count("id"), backlog=Sum("backlog"), last_seen=Max("last_seen"))
    }
    learning = local_learning()
    summary = []
    for row in rows.order_by("site__code", "model_version"):
        fleet = agents.get(row["site_id"], {})
        compared = row.get("compared") or 0
        summary.append(
            {
                "site": row["site__code"],
                "model_version": row["model_version"],
                "predictions": row["predictions"],
                "abstained": row["abstained"],
                "closed": row["closed"],
                "accuracy": row["correct"] / row["closed"] if row["closed"] else None,
                "agreement": row["agreed"] / compared if compared else None,
                "latency_ms": row["latency_ms"],
                "agents": fleet.get("agents", 0),
                "backlog": fleet.get("backlog") or 0,
                "last_seen": fleet.get("last_seen"),
                "last_prediction": row["last_prediction"],
                "local_learning": learning.get(row["site_id"]),
            }
        )
    return summary
