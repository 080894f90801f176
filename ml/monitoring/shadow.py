"""Shadow: a candidate scores live tickets beside the champion before anyone promotes it.

Nothing it says is served. For every new revision of a ticket seen since the shadow started, the
candidate's and the champion's top resolution are stored (ShadowPrediction); the summary reports
how often they agree and, on tickets engineers have resolved, how often each was right. That is
the evidence an admin reads before promoting (admin, and GET /api/v1/models/{id}/shadow/).

Both models are scored the same way, by ml.serving.inference.Predictor on the serialised ticket (what
each would serve), so the comparison is like for like.
"""

import logging
from collections.abc import Sequence
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, Max, OuterRef
from django.utils import timezone

from ml.core import registry
from ml.core.dataset import ticket_code_map, ticket_context
from ml.core.serialization import serialize
from ml.models import ModelVersion, ShadowDeployment, ShadowPrediction
from ml.serving import merged
from repair_center import selectors
from repair_center.models import Ticket

logger = logging.getLogger(__name__)


def ticket_texts(tickets: Sequence[Ticket]) -> list[str]:
    """Model input for stored tickets (from selectors.ticket_detail), exactly as training serialises it."""
    return [
        serialize(selectors.ticket_document(t), context=ticket_context(t), code_map=ticket_code_map(t))
        for t in tickets
    ]


def predict_texts(version: ModelVersion, texts: Sequence[str]) -> list[tuple[str, float]]:
    """(top resolution, its probability) per text, as the version serves them (ml.serving.inference C1).

    A version trained before serving files existed is scored by its transformer alone.
    """
    if not texts:
        return []
    from ml.serving.inference import NotServable, Predictor

    try:
        predictor = Predictor.for_version(version)
    except NotServable:
        from ml.training.fine_tuning import predict_proba

        artifacts = registry.verify(version)
        proba = predict_proba(
            Path(artifacts.path) / "model",
            list(texts),
            max_length=version.hyperparameters.get("max_length", 128),
        )
        labels = version.label_set
    else:
        proba, labels = predictor.score_texts(list(texts)).proba, predictor.labels
    return [(labels[int(row.argmax())], float(row.max())) for row in proba]


def shadow_start(version: ModelVersion, *, actor: str = "system") -> ShadowDeployment:
    """Start (or restart) scoring live tickets with ``version`` beside the champion."""
    if version.status in (ModelVersion.Status.CHAMPION, ModelVersion.Status.FAILED):
        raise ValueError(f"v{version.pk} is {version.status}; only a candidate runs in shadow")
    registry.verify(version)
    deployment, created = ShadowDeployment.objects.get_or_create(
        model_version=version, defaults={"started_by": actor}
    )
    if not created and not deployment.active:
        deployment.active, deployment.stopped_at = True, None
        deployment.save(update_fields=["active", "stopped_at"])
    return deployment


def shadow_stop(version: ModelVersion) -> None:
    ShadowDeployment.objects.filter(model_version=version, active=True).update(
        active=False, stopped_at=timezone.now()
    )


def _unscored(deployment: ShadowDeployment, limit: int) -> list[Ticket]:
    """Tickets created or changed since the shadow started whose current revision it has not scored."""
    scored = ShadowPrediction.objects.filter(
        deployment=deployment, ticket=OuterRef("pk"), ticket_revision=OuterRef("revision")
    )
    ids = list(
        Ticket.objects.filter(updated_at__gte=deployment.started_at)
        .exclude(status=Ticket.Status.CANCELLED)
        .exclude(Exists(scored))
        .order_by("updated_at", "id")
        .values_list("pk", flat=True)[:limit]
    )
    return list(selectors.ticket_detail().filter(pk__in=ids).order_by("updated_at", "id"))


def shadow_score(deployment: ShadowDeployment, *, limit: int | None = None) -> int:
    """Score the next batch of unscored live tickets with candidate and champion; returns how many."""
    tickets = _unscored(deployment, limit or settings.TICKETAI_SHADOW_BATCH)
    if not tickets:
        return 0
    candidate = deployment.model_version
    texts = ticket_texts(tickets)
    theirs = predict_texts(candidate, texts)
    champion = registry.champion(candidate.label_set_key)
    ours: list[tuple[str, float | None]] = [("", None)] * len(tickets)
    if champion is not None:
        try:
            ours = predict_texts(champion, texts)
        except registry.ArtifactError as e:
            logger.warning("shadow of v%s: the champion cannot be scored: %s", candidate.pk, e)
            champion = None
    rows = [
        ShadowPrediction(
            deployment=deployment,
            ticket=ticket,
            ticket_revision=ticket.revision,
            champion_version=champion,
            candidate_resolution=cand[0],
            candidate_confidence=cand[1],
            champion_resolution=champ[0],
            champion_confidence=champ[1],
        )
        for ticket, cand, champ in zip(tickets, theirs, ours, strict=True)
    ]
    with transaction.atomic():
        ShadowPrediction.objects.bulk_create(rows, ignore_conflicts=True)
        shadow_summarise(deployment)
    return len(rows)


def shadow_score_active() -> dict[int, int]:
    """One scoring pass for every active shadow; {model version id: tickets scored}."""
    done = {}
    for deployment in ShadowDeployment.objects.filter(active=True).select_related("model_version"):
        try:
            done[deployment.model_version_id] = shadow_score(deployment)
        except registry.ArtifactError as e:
            shadow_stop(deployment.model_version)
            logger.error("shadow of v%s stopped: %s", deployment.model_version_id, e)
    return done


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def shadow_summarise(deployment: ShadowDeployment) -> dict:
    """Agreement with the champion, and accuracy of both on tickets engineers resolved; stored on the row.

    Each ticket counts once, by its latest scored revision, against its current resolution.
    """
    latest = (
        ShadowPrediction.objects.filter(deployment=deployment)
        .values("ticket")
        .annotate(revision=Max("ticket_revision"))
    )
    wanted = {(row["ticket"], row["revision"]) for row in latest}
    predictions = [
        p
        for p in ShadowPrediction.objects.filter(deployment=deployment).select_related("ticket__resolution")
        if (p.ticket_id, p.ticket_revision) in wanted
    ]
    compared = [p for p in predictions if p.champion_resolution]
    resolved = [p for p in predictions if p.ticket.resolution_id]
    truth = {p.pk: p.ticket.resolution.code for p in resolved}
    # A code merged into another since it was predicted counts as the code kept (ml/serving/merged.py).
    kept = merged.kept_codes(
        sorted({p.candidate_resolution for p in predictions} | {p.champion_resolution for p in compared})
    )
    candidate = {p.pk: kept.get(p.candidate_resolution, p.candidate_resolution) for p in resolved}
    champion = {p.pk: kept.get(p.champion_resolution, p.champion_resolution) for p in resolved}
    summary = {
        "tickets": len(predictions),
        "compared_with_champion": len(compared),
        "agreement": _share(sum(p.agrees for p in compared), len(compared)),
        "confirmed": len(resolved),
        "candidate_accuracy": _share(sum(candidate[p.pk] == truth[p.pk] for p in resolved), len(resolved)),
        "champion_accuracy": _share(
            sum(champion[p.pk] == truth[p.pk] for p in resolved if p.champion_resolution),
            sum(1 for p in resolved if p.champion_resolution),
        ),
        "champion_versions": sorted({p.champion_version_id for p in compared if p.champion_version_id}),
    }
    ShadowDeployment.objects.filter(pk=deployment.pk).update(summary=summary, summarised_at=timezone.now())
    deployment.summary = summary
    return summary


def shadow_report(version: ModelVersion) -> dict:
    """What the API and admin show for one version's shadow."""
    deployment = ShadowDeployment.objects.filter(model_version=version).first()
    if deployment is None:
        return {"model_version": version.pk, "status": version.status, "shadow": None}
    return {
        "model_version": version.pk,
        "status": version.status,
        "shadow": {
            "active": deployment.active,
            "started_at": deployment.started_at,
            "stopped_at": deployment.stopped_at,
            "started_by": deployment.started_by,
            "summarised_at": deployment.summarised_at,
            **(deployment.summary or shadow_summarise(deployment)),
        },
    }
