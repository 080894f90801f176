"""Recommendations from the champion model: load it (verified), score tickets, explain, find similar.

The predictor runs on numpy, onnxruntime and tokenizers only (see ml/serving/ensemble.py), so the web
process answers recommendations without loading torch. Each process keeps the loaded champion and
reloads when the champion changes; if the champion's files fail verification it serves the most
recent earlier champion whose files are intact, and says so in the log and in champion_status().
"""

import json
import logging
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_agent import abstention
from ml.core import labelsets, registry
from ml.core.serialization import serialize
from ml.models import ModelVersion
from ml.serving import calibration, ensemble, evidence, evidence_patterns, familiarity, merged, track_record

logger = logging.getLogger(__name__)
DEFAULT_KEY = "default"


class NotServable(registry.ArtifactError):
    """A verified version without serving files (trained before they existed): retrain it."""


def resolve_key(label_set_key: str = DEFAULT_KEY) -> str:
    return labelsets.label_set_key() if label_set_key == DEFAULT_KEY else label_set_key


@dataclass(frozen=True, slots=True)
class Scores:
    proba: np.ndarray  # [n, n_classes], calibrated, columns follow Predictor.labels
    features: np.ndarray  # [n, hidden], L2-normalised encoder features (for similar tickets)


class Predictor:
    """A version's served model: encoder, lexical member, neighbour index, weights and temperature."""

    def __init__(self, *, version_id: int, path: Path, metrics: dict, label_set_key: str = "resolution"):
        serving = path / ensemble.SERVING_DIR
        if not (serving / "ensemble.json").is_file():
            raise NotServable(
                f"model v{version_id} has no serving files (trained by an older version); retrain"
            )
        self.version_id = version_id
        self.label_set_key = label_set_key
        self.config = json.loads((serving / "ensemble.json").read_text())
        self.labels: list[str] = list(self.config["labels"])
        self.encoder = ensemble.Encoder(
            serving, max_length=int(self.config["max_length"]), **self.config["tokenizer"]
        )
        self.lexical = ensemble.Lexical.load(serving / "lexical.npz")
        try:
            self.calibration = calibration.load(serving)
        except (ValueError, KeyError) as e:
            raise registry.ArtifactError(f"model v{version_id} has a broken calibration: {e}") from e
        # Past fixes per code and alarm sequence in the training tickets, for the evidence's statements.
        self.patterns: dict = evidence_patterns.load(serving)
        self.index = np.load(serving / "embeddings.npy", allow_pickle=False)
        index = json.loads((serving / "index.json").read_text())
        self.index_ticket_ids: list[int] = index["ticket_ids"]
        self.index_labels: list[str] = index["labels"]
        label_index = {label: i for i, label in enumerate(self.labels)}
        self.index_y = np.array([label_index[label] for label in self.index_labels], dtype=np.int64)
        # Thresholds from the coverage-at-90%-precision analysis of the served predictor, kept for
        # the model page; whether to abstain is decided by ml/serving/confidence.py alone.
        self.thresholds: dict[str, float | None] = dict(metrics.get("class_thresholds") or {})
        # Words of most of the tickets learnt from, in their own language: never evidence.
        learnt = Counter(self.index_labels)
        self.common_words = self.lexical.common_words(*familiarity.word_counts(self.index_labels))
        # The words and codes that tell those tickets apart: a ticket with none of them is unfamiliar.
        self.distinctive_words = familiarity.distinctive_words(self.lexical, self.index_labels)
        # How much history stands behind each label (ml/serving/track_record.py).
        self.records: dict[str, dict] = track_record.records(self.labels, learnt, metrics)
        self._learnt, self._metrics = learnt, metrics

    @classmethod
    def for_version(cls, version: ModelVersion) -> "Predictor":
        """Verify the version's files, then load it."""
        artifacts = registry.verify(version)
        metrics = json.loads((artifacts.path / "metrics.json").read_text())
        return cls(
            version_id=version.pk, path=artifacts.path, metrics=metrics, label_set_key=version.label_set_key
        )

    @property
    def encoder_serves(self) -> bool:
        """Whether the served probabilities use the encoder (its logits or its neighbour votes)."""
        served = self.config["served"]
        if served == "ensemble":
            weights = self.config["weights"]
            return weights.get("transformer", 0) > 0 or weights.get("knn", 0) > 0
        return served in ("transformer", "knn")

    def _members(self, texts: list[str], *, encoder: bool) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Each member's raw probabilities (and the encoder features); without ``encoder`` only the
        lexical member runs."""
        if not encoder:
            return {"lexical": self.lexical.proba(texts)}, np.zeros((len(texts), 0), dtype=np.float32)
        logits, raw = self.encoder.run(texts)
        embedded = ensemble.normalise(raw) if len(texts) else raw
        probas = {
            "transformer": ensemble.softmax(logits) if len(texts) else np.zeros((0, len(self.labels))),
            "lexical": self.lexical.proba(texts),
            "knn": ensemble.knn_proba(
                embedded, self.index, self.index_y, len(self.labels), k=int(self.config["knn_k"])
            ),
        }
        return probas, embedded

    def score_texts(self, texts: list[str], *, features: bool = True) -> Scores:
        """Served probabilities; ``features=False`` when no similar tickets are wanted: the encoder
        is then skipped whenever the served predictor does not use it (a lexical champion)."""
        probas, vectors = self._members(texts, encoder=features or self.encoder_serves)
        proba = ensemble.served_proba(self.config, probas)
        # The one place served probabilities get the stored calibration (ml/training/calibration.py).
        if self.calibration is not None:
            proba = self.calibration.apply(proba)
        return Scores(proba=proba, features=vectors)

    def unsaturated_proba(self, documents: list[dict], contexts: list[dict] | None = None) -> np.ndarray:
        """The members' raw probabilities mixed with the served weights, without temperatures or
        calibration: the space evidence is measured in. Fitted temperatures can be below 1, and
        models trained before the temperature prior have 0.05 where validation was all right, which
        pushes the served probabilities to exactly 1 where occlusion moves nothing; these keep every
        member's own spread."""
        probas, _ = self._members(self.inputs(documents, contexts), encoder=self.encoder_serves)
        served = self.config["served"]
        if served == "ensemble":
            return ensemble.combine(probas, self.config["weights"])
        return probas[served]

    @staticmethod
    def inputs(documents: list[dict], contexts: list[dict] | None = None) -> list[str]:
        """Model input text per document; a context may carry site/unit fields and a "code_map"."""
        contexts = contexts or [{} for _ in documents]
        return [
            serialize(doc, context=ctx, code_map=ctx.get("code_map"))
            for doc, ctx in zip(documents, contexts, strict=True)
        ]

    def score(self, documents: list[dict], contexts: list[dict] | None = None) -> Scores:
        return self.score_texts(self.inputs(documents, contexts))

    def predict_proba(self, documents: list[dict], contexts: list[dict] | None = None) -> np.ndarray:
        return self.score_texts(self.inputs(documents, contexts), features=False).proba

    def record_of(self, members: list[int]) -> dict | None:
        """The track record of one fix learnt under the labels ``members`` (several after a merge)."""
        if len(members) == 1:
            return self.records.get(self.labels[members[0]])
        return track_record.record([self.labels[i] for i in members], self._learnt, self._metrics)

    def unfamiliar(self, texts: list[str]) -> list[bool]:
        """Per model input text: True when it holds none of the words and codes that tell the tickets
        learnt from apart (the novelty half of ml/serving/confidence.py's rule). A member without
        such words (a vocabulary of structure alone) never calls a ticket unfamiliar."""
        return [abstention.unfamiliar(text, self.distinctive_words) for text in texts]

    def abstains(self, label: str, confidence: float, *, unfamiliar: bool = False) -> bool:
        """The one abstention rule (ml/serving/confidence.py); ``label`` is kept for callers that pass it."""
        from ml.serving.confidence import abstains

        return abstains(confidence, unfamiliar=unfamiliar)


# --- The champion, per process -------------------------------------------------------------------


@dataclass(slots=True)
class _Loaded:
    champion_id: int | None
    artifact_path: str
    predictor: Predictor | None
    fallback_from: int | None = None
    problem: str = ""


_loaded: dict[str, _Loaded] = {}
_lock = threading.Lock()


def load_champion(label_set_key: str = DEFAULT_KEY) -> Predictor | None:
    """The champion's predictor (cached; reloaded when the champion changes), or None without one.

    If the champion's files are broken, the most recent earlier champion that verifies is served.
    """
    key = resolve_key(label_set_key)
    return _serve(key, registry.champion(key))


def _serve(key: str, champion: ModelVersion | None) -> Predictor | None:
    cached = _loaded.get(key)
    if champion is None:
        _loaded.pop(key, None)
        return None
    # Keyed on the resolved folder: a moved TICKETAI_MODEL_DIR is a different model to load.
    where = str(champion.artifact_dir)
    if cached and cached.champion_id == champion.pk and cached.artifact_path == where:
        return cached.predictor
    with _lock:
        cached = _loaded.get(key)
        if cached and cached.champion_id == champion.pk and cached.artifact_path == where:
            return cached.predictor
        _loaded[key] = _load(key, champion)
        return _loaded[key].predictor


def load_for_source(source: str | None) -> Predictor | None:
    """The predictor for a ticket of ``source``: the champion of the label set trained on that
    source (``train --source``), else of the smallest set including it, else the default's."""
    if not source:
        return load_champion()
    # One query for every label set's champion, so serving by source costs what the default does.
    champions = {v.label_set_key: v for v in ModelVersion.objects.filter(status=ModelVersion.Status.CHAMPION)}
    for key in labelsets.serving_keys(source, champions):
        predictor = _serve(key, champions.get(key))
        if predictor is not None:
            return predictor
    return None


def _load(key: str, champion: ModelVersion) -> _Loaded:
    try:
        predictor = Predictor.for_version(champion)
    except registry.ArtifactError as e:
        problem = str(e)
    else:
        _set_gauge(key, champion.pk)
        return _Loaded(champion.pk, str(champion.artifact_dir), predictor)
    earlier = (
        ModelVersion.objects.filter(label_set_key=key, promoted_at__isnull=False)
        .exclude(pk=champion.pk)
        .exclude(status=ModelVersion.Status.FAILED)
        .order_by("-promoted_at", "-pk")
    )
    for version in earlier:
        try:
            predictor = Predictor.for_version(version)
        except registry.ArtifactError as e:
            logger.warning("earlier champion v%s cannot serve either: %s", version.pk, e)
            continue
        logger.error(
            "champion v%s cannot serve (%s); serving the earlier champion v%s",
            champion.pk,
            problem,
            version.pk,
        )
        _set_gauge(key, version.pk)
        return _Loaded(
            champion.pk, str(champion.artifact_dir), predictor, fallback_from=champion.pk, problem=problem
        )
    logger.error(
        "champion v%s cannot serve (%s) and no earlier champion can; recommendations are off",
        champion.pk,
        problem,
    )
    _set_gauge(key, 0)
    return _Loaded(champion.pk, str(champion.artifact_dir), None, problem=problem)


def _set_gauge(key: str, version_id: int) -> None:
    try:
        from ticketai.metrics import MODEL_VERSION
    except ImportError:
        return
    MODEL_VERSION.labels(key).set(version_id)


def champion_status(label_set_key: str = DEFAULT_KEY) -> dict:
    """For /readyz: {"state": none|ok|fallback|broken, ...} as this process serves it."""
    key = resolve_key(label_set_key)
    predictor = load_champion(key)
    loaded = _loaded.get(key)
    if loaded is None:
        return {"state": "none", "detail": "no champion model yet; recommendations are off"}
    if predictor is None:
        return {"state": "broken", "detail": loaded.problem}
    if loaded.fallback_from is not None:
        return {
            "state": "fallback",
            "detail": f"champion v{loaded.fallback_from} cannot serve ({loaded.problem}); "
            f"serving v{predictor.version_id}",
            "versions": {key: predictor.version_id},
        }
    return {"state": "ok", "versions": {key: predictor.version_id}}


def reset_cache() -> None:
    """Forget loaded models (tests, and after deleting model files)."""
    with _lock:
        _loaded.clear()


# --- One recommendation --------------------------------------------------------------------------


def no_model_payload() -> dict:
    from ml.serving.confidence import rule_text

    return {
        "model_version": None,
        "unfamiliar": False,
        "abstained": True,
        "abstain_reason": "no model has been trained yet",
        "abstain_rule": rule_text(),
        "recommendations": [],
        "evidence": {"codes": [], "events": [], "words": [], "patterns": []},
        "similar": [],
    }


def recommend(
    document: dict,
    *,
    predictor: Predictor | None = None,
    top_k: int = 3,
    with_evidence: bool = True,
    with_similar: bool = True,
    context: dict | None = None,
    exclude_ticket_id: int | None = None,
) -> dict:
    """Top-k resolutions with calibrated confidence and steps, evidence and similar past tickets.

    ``context`` (site/unit fields and a "code_map") defaults to what the catalogue says about the
    document's site, element and codes.
    """
    from ml.serving import confidence, similar

    predictor = predictor or load_champion()
    if predictor is None:
        return no_model_payload()
    if context is None:
        context = document_context(document)
    texts = predictor.inputs([document], [context])
    scores = predictor.score_texts(texts)
    fixes = merged.of_predictor(predictor.labels)
    proba = fixes.proba(scores.proba)[0]
    order = np.argsort(-proba)[: max(1, top_k)]
    catalogue = _resolutions([fixes.codes[i] for i in order])
    recommendations, records = [], {}
    for i in order:
        code = fixes.codes[i]
        title, steps = catalogue.get(code, (code, []))
        recommendations.append(
            {"resolution": code, "title": title, "steps": steps, "confidence": round(float(proba[i]), 4)}
        )
        if (record := predictor.record_of(fixes.members[i])) is not None:
            records[code] = record
    top = fixes.top_label(int(order[0]), scores.proba[0])
    payload = {
        "model_version": predictor.version_id,
        "unfamiliar": predictor.unfamiliar(texts)[0],
        "recommendations": track_record.annotate(recommendations, records),
        "evidence": evidence.explain(predictor, document, context, top=top)
        if with_evidence
        else {"codes": [], "events": [], "words": [], "patterns": []},
        "similar": similar.similar_tickets(predictor, scores.features[0], exclude_ticket_id=exclude_ticket_id)
        if with_similar
        else [],
    }
    # Whether it abstains, and why in plain words: the one rule the queue and the API apply too.
    payload = confidence.apply(payload)
    _count("abstained" if payload["abstained"] else "served")
    return payload


def _count(outcome: str) -> None:
    try:
        from ticketai.metrics import RECOMMENDATIONS
    except ImportError:
        return
    RECOMMENDATIONS.labels(outcome=outcome).inc()


def _resolutions(codes: list[str]) -> dict[str, tuple[str, list[str]]]:
    """Title and steps by code (codes merged away since the model learnt them are already read as the
    code kept: ml/serving/merged.py)."""
    from repair_center.models import ResolutionCode

    return {r.code: (r.title, r.step_list) for r in ResolutionCode.objects.filter(code__in=codes)}


def document_context(document: dict) -> dict:
    """Site and unit context and raw -> curated codes for a document, from the catalogue."""
    return documents_contexts([document])[0]


def documents_contexts(documents: list[dict]) -> list[dict]:
    """document_context for many documents with a fixed number of queries."""
    from django.db.models import Q

    from ml.core.dataset import _age_years
    from repair_center.models import ErrorCode, NetworkElement, Site
    from repair_center.services.catalogue import CodeMapper

    site_codes = {str(d.get("site")) for d in documents if d.get("site")}
    refs = {str(d.get("element")) for d in documents if d.get("element")}
    sites = {s.code: s for s in Site.objects.filter(code__in=site_codes)}
    elements: dict[str, NetworkElement] = {}
    for element in NetworkElement.objects.filter(Q(serial__in=refs) | Q(name__in=refs)):
        if element.name:
            elements.setdefault(element.name, element)
        elements[element.serial] = element
    mapper = CodeMapper()
    code_names = dict(ErrorCode.objects.values_list("id", "code"))
    contexts = []
    for document in documents:
        context: dict = {}
        site = sites.get(str(document.get("site") or ""))
        if site is not None:
            context.update(region=site.region, climate=site.climate, tier=site.tier)
        element = elements.get(str(document.get("element") or ""))
        if element is not None:
            context.update(
                kind=element.kind, vendor=element.vendor, software_version=element.software_version
            )
            context["age_years"] = _age_years(_Opened(element, document.get("opened_at")))
        raw_codes = list(document.get("error_codes") or [])
        raw_codes += [
            e.get("code") for e in document.get("events") or [] if isinstance(e, dict) and e.get("code")
        ]
        vendor = element.vendor if element is not None else ""
        code_map = {}
        for raw in raw_codes:
            code_id = mapper.map(str(raw), vendor)
            if code_id is not None:
                code_map[str(raw)] = code_names.get(code_id, str(raw))
        context["code_map"] = code_map
        contexts.append(context)
    return contexts


class _Opened:
    """Just enough of a ticket for dataset._age_years, from a document's element and opened_at."""

    def __init__(self, element, opened_at):
        from repair_center.documents import parse_timestamp

        self.element, self.element_id = element, element.pk
        try:
            self.opened_at = parse_timestamp(opened_at) if opened_at else None
        except (TypeError, ValueError):
            self.opened_at = None


def predict_batch(documents: list[dict], *, predictor: Predictor, top_k: int = 3) -> list[dict]:
    """Batch scoring without evidence: [{"recommendations": [{resolution, confidence, record,
    record_statement}], "abstained", "unfamiliar", "model_version"}], abstaining by the same rule as
    ``recommend``, each fix with the track record the ticket page shows (how many past tickets it
    rests on, and whether held-out tickets measured it)."""
    if not documents:
        return []
    fixes = merged.of_predictor(predictor.labels)
    texts = predictor.inputs(documents, documents_contexts(documents))
    proba = fixes.proba(predictor.score_texts(texts, features=False).proba)
    out = []
    for row, unfamiliar in zip(proba, predictor.unfamiliar(texts), strict=True):
        order = np.argsort(-row)[: max(1, top_k)]
        ranked = [{"resolution": fixes.codes[i], "confidence": round(float(row[i]), 4)} for i in order]
        records = {
            fixes.codes[i]: record
            for i in order
            if (record := predictor.record_of(fixes.members[i])) is not None
        }
        ranked = track_record.annotate(ranked, records)
        top = ranked[0]
        out.append(
            {
                "recommendations": ranked,
                "abstained": predictor.abstains(top["resolution"], top["confidence"], unfamiliar=unfamiliar),
                "unfamiliar": unfamiliar,
                "model_version": predictor.version_id,
            }
        )
    return out
