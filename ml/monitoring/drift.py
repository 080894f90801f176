"""The drift monitor: is the champion still right about the tickets labelled since it was trained?

Four signals, each against a threshold from settings (docs/operations.md, Configuration):

- label mix: Jensen-Shannon divergence (base 2, 0 = same mix, 1 = disjoint) between the labels
  the champion trained on and the labels of fresh tickets;
- unseen codes: share of fresh tickets carrying an error code (curated, or raw when unmapped)
  that no training ticket carried and that recurs (on 3 or more fresh tickets): a new failure
  mode or a new vendor release;
- confidence: mean top probability on fresh tickets against the same on the champion's own
  held-out evaluation tickets (a falling mean means the inputs look unfamiliar);
- accuracy: on fresh labelled tickets against the champion's held-out accuracy.

"Fresh" is the newest TICKETAI_DRIFT_WINDOW labelled tickets created or changed after the champion
was registered. Each check is stored as a DriftReport; a firing one queues a retrain with the
reason "drift: ...".
"""

import json
import logging
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

from django.conf import settings

from ml.core import registry
from ml.core.dataset import Example, example_from_ticket
from ml.models import DriftReport, ModelVersion
from ml.monitoring import retraining
from ml.monitoring.shadow import predict_texts
from repair_center import selectors
from repair_center.models import TicketErrorCode, TicketEvent

logger = logging.getLogger(__name__)
MIN_UNSEEN_CODE_TICKETS = 3


@dataclass(frozen=True, slots=True)
class Thresholds:
    label_js: float
    unseen_code_rate: float
    confidence_drop: float
    accuracy_drop: float
    window: int
    min_tickets: int

    @classmethod
    def from_settings(cls) -> "Thresholds":
        return cls(
            label_js=settings.TICKETAI_DRIFT_LABEL_JS,
            unseen_code_rate=settings.TICKETAI_DRIFT_UNSEEN_CODE_RATE,
            confidence_drop=settings.TICKETAI_DRIFT_CONFIDENCE_DROP,
            accuracy_drop=settings.TICKETAI_DRIFT_ACCURACY_DROP,
            window=settings.TICKETAI_DRIFT_WINDOW,
            min_tickets=settings.TICKETAI_DRIFT_MIN_TICKETS,
        )


def js_divergence(p: Mapping[str, float], q: Mapping[str, float]) -> float:
    """Jensen-Shannon divergence in bits between two count (or weight) tables."""
    p_total, q_total = sum(p.values()), sum(q.values())
    if not p_total or not q_total:
        return 0.0
    value = 0.0
    for key in set(p) | set(q):
        a, b = p.get(key, 0) / p_total, q.get(key, 0) / q_total
        m = (a + b) / 2
        if a:
            value += a / 2 * math.log2(a / m)
        if b:
            value += b / 2 * math.log2(b / m)
    return max(0.0, min(1.0, value))


def _split_ids(version: ModelVersion) -> dict[str, list[int]] | None:
    try:
        return json.loads((version.artifact_dir / "split.json").read_text())
    except (OSError, ValueError):
        return None


def training_ticket_ids(version: ModelVersion) -> list[int]:
    """What the version learnt from (split.json); without it, what was labelled when it was made."""
    split = _split_ids(version)
    if split is not None:
        return sorted(
            set(split.get("train_sampled") or split.get("train", [])) | set(split.get("validation", []))
        )
    sources = retraining.sources_of(version.label_set_key)
    return list(
        selectors.labelled_tickets(sources=sources)
        .filter(updated_at__lte=version.created_at)
        .values_list("pk", flat=True)
    )


def _chunks(ids: list[int], size: int = 5000) -> Iterable[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def codes_seen(ticket_ids: list[int]) -> set[str]:
    """Every code (curated where mapped, else raw) on these tickets' error codes and events."""
    seen: set[str] = set()
    for chunk in _chunks(ticket_ids):
        for model in (TicketErrorCode, TicketEvent):
            rows = model.objects.filter(ticket_id__in=chunk).values_list("error_code__code", "raw_code")
            seen.update(curated or raw for curated, raw in rows if curated or raw)
    return seen


def label_mix(ticket_ids: list[int]) -> Counter[str]:
    mix: Counter[str] = Counter()
    for chunk in _chunks(ticket_ids):
        mix.update(
            selectors.labelled_tickets().filter(pk__in=chunk).values_list("resolution__code", flat=True)
        )
    return mix


def example_codes(example: Example) -> set[str]:
    raw = [
        *example.document.get("error_codes", ()),
        *(e.get("code") for e in example.document.get("events", ())),
    ]
    return {example.code_map.get(c, c) for c in raw if c}


def fresh_examples(version: ModelVersion, window: int) -> list[Example]:
    """The newest ``window`` labelled tickets created or changed after ``version`` was registered."""
    sources = retraining.sources_of(version.label_set_key)
    tickets = (
        selectors.labelled_tickets(sources=sources)
        .filter(updated_at__gt=version.created_at)
        .order_by("-updated_at", "-id")[:window]
    )
    return [example_from_ticket(t) for t in tickets]


def _baseline_confidence(version: ModelVersion, window: int) -> float | None:
    """Mean top probability on the version's own evaluation tickets, computed once per version."""
    earlier = (
        DriftReport.objects.filter(model_version=version, scores__has_key="baseline_confidence")
        .exclude(scores__baseline_confidence=None)
        .first()
    )
    if earlier is not None:
        return earlier.scores["baseline_confidence"]
    split = _split_ids(version)
    if not split or not split.get("eval"):
        return None
    tickets = selectors.labelled_tickets().filter(pk__in=split["eval"][-window:])
    predictions = predict_texts(version, [example_from_ticket(t).text for t in tickets])
    return sum(c for _, c in predictions) / len(predictions) if predictions else None


def drift_measure(version: ModelVersion, thresholds: Thresholds) -> tuple[dict, dict, list[str], str]:
    """(window, scores, reasons, note) for the champion ``version``; reasons empty when nothing drifted."""
    fresh = fresh_examples(version, thresholds.window)
    window = {"since": version.created_at.isoformat(), "fresh": len(fresh), "limit": thresholds.window}
    if len(fresh) < thresholds.min_tickets:
        note = (
            f"only {len(fresh)} tickets labelled since v{version.pk} was trained; "
            f"{thresholds.min_tickets} needed to judge drift"
        )
        return window, {}, [], note
    opened = sorted(e.opened_at for e in fresh)
    window.update(first_opened=opened[0].isoformat(), last_opened=opened[-1].isoformat())

    reference = training_ticket_ids(version)
    train_mix = label_mix(reference)
    fresh_mix = Counter(e.label for e in fresh)
    known_codes = codes_seen(reference)
    unseen = Counter(c for e in fresh for c in example_codes(e) - known_codes)
    # A code on one or two tickets is more likely a typo or an odd alarm than a new failure mode.
    recurring = {code for code, count in unseen.items() if count >= MIN_UNSEEN_CODE_TICKETS}
    with_unseen = sum(1 for e in fresh if example_codes(e) & recurring)
    predictions = predict_texts(version, [e.text for e in fresh])
    mean_confidence = sum(c for _, c in predictions) / len(predictions)
    accuracy = sum(p == e.label for (p, _), e in zip(predictions, fresh, strict=True)) / len(fresh)
    baseline_confidence = _baseline_confidence(version, thresholds.window)
    baseline_accuracy = version.metrics.get("accuracy")

    scores = {
        "label_js": round(js_divergence(train_mix, fresh_mix), 4),
        "train_labels": dict(train_mix.most_common()),
        "fresh_labels": dict(fresh_mix.most_common()),
        "unseen_code_rate": round(with_unseen / len(fresh), 4),
        "unseen_codes": {code: count for code, count in unseen.most_common(10) if code in recurring},
        "mean_confidence": round(mean_confidence, 4),
        "baseline_confidence": None if baseline_confidence is None else round(baseline_confidence, 4),
        "accuracy": round(accuracy, 4),
        "baseline_accuracy": baseline_accuracy,
        "reference_tickets": len(reference),
    }
    reasons = []
    if scores["label_js"] >= thresholds.label_js:
        new = [label for label in fresh_mix if label not in train_mix]
        reasons.append(
            f"label mix shifted (Jensen-Shannon {scores['label_js']:.3f} >= {thresholds.label_js})"
            + (f"; new labels {', '.join(sorted(new))}" if new else "")
        )
    if scores["unseen_code_rate"] >= thresholds.unseen_code_rate:
        reasons.append(
            f"{scores['unseen_code_rate']:.0%} of fresh tickets carry codes never seen in training "
            f"(>= {thresholds.unseen_code_rate:.0%}): {', '.join(list(scores['unseen_codes'])[:5])}"
        )
    if (
        baseline_confidence is not None
        and baseline_confidence - mean_confidence >= thresholds.confidence_drop
    ):
        reasons.append(
            f"mean confidence fell from {baseline_confidence:.3f} to {mean_confidence:.3f} "
            f"(drop >= {thresholds.confidence_drop})"
        )
    if baseline_accuracy is not None and baseline_accuracy - accuracy >= thresholds.accuracy_drop:
        reasons.append(
            f"accuracy on freshly labelled tickets fell from {baseline_accuracy:.3f} to {accuracy:.3f} "
            f"(drop >= {thresholds.accuracy_drop})"
        )
    return window, scores, reasons, ""


def drift_check(
    *, label_set_key: str = "resolution", retrain: bool = True, thresholds: Thresholds | None = None
) -> DriftReport:
    """Measure drift of the label set's champion, store a DriftReport and, when it fires, queue a retrain."""
    thresholds = thresholds or Thresholds.from_settings()
    champion = registry.champion(label_set_key)
    report = DriftReport(label_set_key=label_set_key, model_version=champion, thresholds=asdict(thresholds))
    if champion is None:
        report.note = f"no champion for {label_set_key!r}; nothing to compare"
        report.save()
        return report
    try:
        report.window, report.scores, report.reasons, report.note = drift_measure(champion, thresholds)
    except registry.ArtifactError as e:
        report.note = f"the champion's files cannot be read: {e}"
    report.fired = bool(report.reasons)
    report.save()
    if report.fired:
        logger.warning("drift of v%s: %s", champion.pk, "; ".join(report.reasons))
        if retrain:
            run = retraining.retrain_on_drift(
                reasons=report.reasons, sources=retraining.sources_of(label_set_key)
            )
            if run is not None:
                report.training_run = run
                report.save(update_fields=["training_run"])
            else:
                report.note = "retrain not queued: a drift retrain already ran within the cooldown"
                report.save(update_fields=["note"])
    return report
