"""Model registry pages: versions, their evaluation as pictures, and audited promote / roll back."""

from django.contrib import messages
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.generic import TemplateView

from frontend import charts
from frontend.views.access import AdminRequiredMixin, is_admin
from ml.core import labelsets, registry
from ml.models import AuditLog, ModelVersion
from ml.serving import confidence
from ticketai.storable import text_problem

COMPARED = (
    ("macro_f1", "Macro-F1"),
    ("accuracy", "Accuracy"),
    ("top3", "Top-3 accuracy"),
    ("coverage_at_90_precision", "Coverage at 90% precision"),
    ("ece", "Calibration error (ECE, lower is better)"),
)
BASELINE_NAMES = {
    "runbook": "Runbook (most common fix per first code)",
    "tfidf_logreg": "TF-IDF + logistic regression",
}


def _rollback_target(version: ModelVersion) -> ModelVersion | None:
    """The champion a roll back of ``version`` restores (as registry.rollback picks it), or None."""
    if version.status != ModelVersion.Status.CHAMPION:
        return None
    entry = (
        AuditLog.objects.filter(action=AuditLog.Action.PROMOTE, model_version=version)
        .exclude(previous_champion=None)
        .select_related("previous_champion")
        .first()
    )
    return entry.previous_champion if entry else None


def _can_roll_back(version: ModelVersion) -> bool:
    return _rollback_target(version) is not None


def promotion_facts(version: ModelVersion) -> dict:
    """What an admin should know before promoting: the champion it replaces, whether it scores
    worse on macro-F1, and the promotion gate's reason when the gate kept it a candidate."""
    champion = registry.champion(version.label_set_key)
    mine = (version.metrics or {}).get("macro_f1")
    theirs = (champion.metrics or {}).get("macro_f1") if champion else None
    held = (
        AuditLog.objects.filter(action=AuditLog.Action.KEEP_CANDIDATE, model_version=version).first()
        if version.status == ModelVersion.Status.CANDIDATE
        else None
    )
    return {
        "champion": champion,
        "champion_f1": theirs,
        "worse": isinstance(mine, float | int) and isinstance(theirs, float | int) and mine < theirs,
        "held_back": held.reason if held else "",
    }


class ModelListView(AdminRequiredMixin, TemplateView):
    template_name = "frontend/models/list.html"

    def get_context_data(self, **kwargs):
        versions = ModelVersion.objects.select_related("parent").order_by("-created_at", "-id")[:200]
        audit = AuditLog.objects.select_related("model_version", "previous_champion")[:20]
        return super().get_context_data(versions=versions, audit=audit, **kwargs)


def comparison_rows(version: ModelVersion) -> list[dict]:
    """One row per headline metric: the model next to each baseline, on the same held-out split."""
    rows = []
    for key, label in COMPARED:
        rows.append(
            {
                "label": label,
                "model": version.metrics.get(key),
                "baselines": [version.baselines.get(name, {}).get(key) for name in BASELINE_NAMES],
            }
        )
    return rows


def version_charts(version: ModelVersion) -> dict:
    """The SVG pictures of a version; a chart whose data the evaluation did not record is None."""
    metrics = version.metrics or {}
    confusion = metrics.get("confusion") or {}
    per_class = metrics.get("per_class") or {}
    out = {
        "confusion": charts.confusion_matrix(confusion.get("labels", []), confusion.get("matrix", []))
        if confusion
        else None,
        "per_class_f1": charts.horizontal_bars(
            sorted(((label, row["f1"]) for label, row in per_class.items()), key=lambda item: item[0]),
            title="F1 per resolution on the held-out split",
        )
        if per_class
        else None,
        "comparison": charts.horizontal_bars(
            [("this model", metrics.get("macro_f1") or 0.0)]
            + [
                (name, (version.baselines.get(name) or {}).get("macro_f1") or 0.0)
                for name in BASELINE_NAMES
                if name in version.baselines
            ],
            title="Macro-F1: model and baselines",
        )
        if "macro_f1" in metrics
        else None,
        "reliability": None,
        "coverage": None,
    }
    # Older versions were evaluated before the curves were recorded; they show the summary numbers.
    calibration = metrics.get("calibration") or {}
    bins = calibration.get("bins") or metrics.get("reliability")
    if bins:
        before = (calibration.get("before") or {}).get("bins")
        out["reliability"] = charts.reliability_diagram(bins, before=before)
    curve = metrics.get("coverage_curve")
    if curve:
        out["coverage"] = charts.coverage_curve(curve)
    return out


def calibration_summary(version: ModelVersion) -> dict | None:
    """ECE on the held-out tickets before and after calibration, and the highest confidence served;
    None for a version trained before calibration was measured."""
    calibration = (version.metrics or {}).get("calibration") or {}
    before, after = calibration.get("before"), calibration.get("after")
    if not before or not after:
        return None
    cap = calibration.get("cap")
    return {
        "n": after.get("n"),
        "fitted_on": calibration.get("fitted_on"),
        "before_ece": before.get("ece"),
        "after_ece": after.get("ece"),
        "cap": confidence.percent(cap) if cap is not None else None,
    }


def unmeasured_labels(version: ModelVersion) -> list[str]:
    """The version's resolutions with no held-out ticket: trained on (a class of 2 to 4 tickets has
    none set aside) but not measured. Empty for a version whose evaluation recorded no per-class rows."""
    per_class = (version.metrics or {}).get("per_class")
    if not per_class:
        return []
    return [label for label in version.label_set or [] if label not in per_class]


class ModelDetailView(AdminRequiredMixin, TemplateView):
    template_name = "frontend/models/detail.html"

    def get_context_data(self, **kwargs):
        version = get_object_or_404(ModelVersion.objects.select_related("parent"), pk=self.kwargs["pk"])
        admin = is_admin(self.request.user)
        return super().get_context_data(
            label_set_sources=labelsets.sources_of(version.label_set_key),
            version=version,
            charts=version_charts(version),
            unmeasured=unmeasured_labels(version),
            calibration=calibration_summary(version),
            row_counts=[
                (key.replace("_", " ").capitalize(), value) for key, value in version.row_counts.items()
            ],
            comparison=comparison_rows(version),
            baseline_names=list(BASELINE_NAMES.values()),
            audit=version.audit_entries.select_related("previous_champion")[:50],
            runs=version.training_runs.all()[:5],
            can_promote=admin
            and version.status in (ModelVersion.Status.CANDIDATE, ModelVersion.Status.ARCHIVED),
            can_roll_back=admin and _can_roll_back(version),
            **kwargs,
        )


class _ConfirmView(AdminRequiredMixin, TemplateView):
    """GET asks for confirmation (and a reason); POST does it and writes the audit log."""

    template_name = "frontend/models/confirm.html"
    action = ""

    def version(self) -> ModelVersion:
        return get_object_or_404(ModelVersion, pk=self.kwargs["pk"])

    def get_context_data(self, **kwargs):
        version = self.version()
        self.check(version)
        facts = promotion_facts(version) if self.action == "promote" else {}
        return super().get_context_data(
            version=version,
            action=self.action,
            restores=_rollback_target(version) if self.action == "rollback" else None,
            reason=self.request.POST.get("reason", "")[:1000],
            **facts,
            **kwargs,
        )

    def check(self, version: ModelVersion) -> None:
        raise NotImplementedError

    def post(self, request, *args, **kwargs):
        version = self.version()
        self.check(version)
        reason = request.POST.get("reason", "").strip()
        # Refused with a reason rather than cut or stored: a NUL would be a 500 in the audit log.
        problem = text_problem(reason) or ("is over 1000 characters" if len(reason) > 1000 else "")
        if problem or not reason:
            why = (
                f"Nothing done: the reason {problem}."
                if problem
                else "Give a reason: it is kept in the audit log."
            )
            return self.render_to_response(self.get_context_data(error=why), status=400)
        try:
            message = self.perform(version, reason)
        except (ValueError, registry.ArtifactError) as e:
            messages.error(request, str(e))
        else:
            messages.success(request, message)
        return HttpResponseRedirect(reverse("model-detail", args=[version.pk]))


class ModelPromoteView(_ConfirmView):
    action = "promote"

    def check(self, version):
        if version.status not in (ModelVersion.Status.CANDIDATE, ModelVersion.Status.ARCHIVED):
            raise Http404("only a candidate or archived version can be promoted")

    def perform(self, version, reason):
        registry.verify(version)  # never serve files that no longer load
        user = self.request.user
        registry.promote(version, actor=user.get_username(), user=user, reason=reason)
        return f"v{version.pk} is now the champion."


class ModelRollbackView(_ConfirmView):
    action = "rollback"

    def check(self, version):
        if not _can_roll_back(version):
            raise Http404("only a champion that replaced an earlier one can be rolled back")

    def perform(self, version, reason):
        user = self.request.user
        restored = registry.rollback(
            label_set_key=version.label_set_key, actor=user.get_username(), user=user, reason=reason
        )
        return f"Rolled back: v{restored.pk} is the champion again; v{version.pk} is archived."
