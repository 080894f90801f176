"""Training: start a run (admin), watch its progress live, and the history of runs with their outcome."""

from django import forms
from django.contrib import messages
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.views import View
from django.views.generic import TemplateView

from frontend.views.access import AdminRequiredMixin, is_admin
from ml.models import TrainingRun
from ml.training import services
from ml.training.fine_tuning import TrainingConfig
from ml.training.quality import CHECK_KEYS
from ticketai.broker import require_broker


class TrainingStartForm(forms.Form):
    reason = forms.CharField(label="Why (kept with the run)", required=False, max_length=500)
    epochs = forms.IntegerField(
        label="Epochs (0: chosen from the data size)", min_value=0, max_value=50, initial=0, required=False
    )
    max_length = forms.IntegerField(
        label="Tokens per ticket (0: from the data)", min_value=0, max_value=512, initial=0, required=False
    )
    max_train_samples = forms.IntegerField(
        label="At most this many training tickets (empty: all)", min_value=1, required=False
    )
    batch_size = forms.IntegerField(
        label="Batch size (empty: 16)", min_value=1, max_value=256, required=False
    )
    force = forms.BooleanField(label="Train even if the data has not changed", required=False)
    allow = forms.MultipleChoiceField(
        label="Train although these data-quality checks fail (recorded on the run)",
        choices=[(key, key.replace("-", " ").capitalize()) for key in CHECK_KEYS],
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )

    def config(self) -> TrainingConfig:
        data = self.cleaned_data
        config = TrainingConfig(
            epochs=data.get("epochs") or 0,
            max_length=data.get("max_length") or 0,
            max_train_samples=data.get("max_train_samples") or None,
        )
        if data.get("batch_size"):
            config.batch_size = data["batch_size"]
        return config


def run_progress(run: TrainingRun) -> dict:
    """What the progress bar shows; the same shape for the page and the JSON endpoint."""
    progress = run.progress or {}
    step, total = progress.get("step") or 0, progress.get("total_steps") or 0
    percent = int(100 * step / total) if total else 0
    if run.status == TrainingRun.Status.SUCCEEDED:
        percent = 100
    return {
        "id": run.pk,
        "status": run.status,
        "status_display": run.get_status_display(),
        "finished": run.is_finished,
        "phase": progress.get("phase") or ("waiting for a worker" if run.status == "queued" else ""),
        "epoch": progress.get("epoch"),
        "epochs": progress.get("epochs"),
        "step": step,
        "total_steps": total,
        "loss": progress.get("loss"),
        "eta_s": progress.get("eta_s"),
        "percent": percent,
        "reason": run.reason,
        "model_version": run.model_version_id,
    }


def run_duration(run: TrainingRun):
    """How long the run took (or has taken so far), None before a worker started it."""
    if run.started_at is None:
        return None
    return (run.finished_at or timezone.now()) - run.started_at


def quality_checks(run: TrainingRun) -> list[dict]:
    """The data-quality gate's checks as rows: name, value, limit, passed, and the message."""
    rows = []
    report = run.quality_report or {}
    overridden = set(report.get("overridden") or ())
    for check in report.get("checks") or []:
        value, limit = check.get("value"), check.get("limit")
        share = isinstance(limit, float) and 0 < limit < 1
        ok = bool(check.get("ok"))
        if ok:
            result = "pass"
        elif check.get("key") in overridden:
            result = "overridden"
        else:
            result = "warning" if check.get("verdict") == "WARN" else "fail"
        rows.append(
            {
                "name": str(check.get("name", "")),
                "value": _shown(value, share),
                "limit": _shown(limit, share),
                "ok": ok,
                "result": result,
                "message": str(check.get("message", "")),
            }
        )
    return rows


def _shown(value, share: bool) -> str:
    if isinstance(value, bool) or value is None:
        return "—" if value is None else str(value)
    if share and isinstance(value, int | float):
        return f"{value:.1%}"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".")
    return f"{value:,}" if isinstance(value, int) else str(value)


class TrainingView(AdminRequiredMixin, TemplateView):
    template_name = "frontend/training/list.html"

    def get_context_data(self, form=None, **kwargs):
        runs = list(TrainingRun.objects.select_related("model_version")[:100])
        for run in runs:
            run.duration = run_duration(run)
            run.score = (run.model_version.metrics or {}).get("macro_f1") if run.model_version else None
        active = [run for run in runs if not run.is_finished]
        return super().get_context_data(
            runs=runs,
            active=[(run, run_progress(run)) for run in active],
            form=form or TrainingStartForm(),
            can_start=is_admin(self.request.user),
            **kwargs,
        )

    def post(self, request, *args, **kwargs):
        if not is_admin(request.user):
            return self.handle_no_permission()
        form = TrainingStartForm(request.POST)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form), status=400)
        require_broker()  # 503 before a queued run is written that no worker would ever see
        run = services.training_enqueue(
            trigger=TrainingRun.Trigger.MANUAL,
            config=form.config(),
            force=form.cleaned_data["force"],
            allow=form.cleaned_data["allow"],
            reason=form.cleaned_data["reason"] or f"started from the web by {request.user.get_username()}",
            requested_by=request.user.get_username(),
        )
        messages.success(request, f"Training run #{run.pk} queued.")
        return HttpResponseRedirect(reverse("training-run", args=[run.pk]))


def _rare_classes(report: dict) -> dict:
    """The classes trained on but too rare to hold out, and those left out of training. A report
    written before rare classes were trained on has no ``left_out_labels``: its rare ones were left out."""
    rare = sorted((report.get("rare_labels") or {}).items())
    if "left_out_labels" not in report:
        return {"trained_rare_labels": [], "left_out_labels": rare}
    return {"trained_rare_labels": rare, "left_out_labels": sorted(report["left_out_labels"].items())}


class TrainingRunView(AdminRequiredMixin, TemplateView):
    template_name = "frontend/training/run.html"

    def get_context_data(self, **kwargs):
        run = get_object_or_404(TrainingRun.objects.select_related("model_version"), pk=self.kwargs["pk"])
        report = run.quality_report or {}
        return super().get_context_data(
            run=run,
            progress=run_progress(run),
            duration=run_duration(run),
            checks=quality_checks(run),
            **_rare_classes(report),
            gate_passed=report.get("passed"),
            allowed=list(report.get("allowed") or (run.config or {}).get("allow") or ()),
            **kwargs,
        )


class TrainingProgressView(AdminRequiredMixin, View):
    """The small JSON the progress bar polls every two seconds."""

    def get(self, request, pk):
        run = get_object_or_404(TrainingRun, pk=pk)
        return JsonResponse(run_progress(run), headers={"Cache-Control": "no-store"})
