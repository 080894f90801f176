from django import forms
from django.contrib import admin, messages

from ml.core import registry
from ml.models import AuditLog, ModelVersion, TrainingRun


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "label_set_key",
        "status",
        "macro_f1",
        "base_model",
        "data_fingerprint",
        "created_at",
    )
    list_filter = ("status", "label_set_key")
    readonly_fields = [f.name for f in ModelVersion._meta.fields]
    actions = ["promote_selected", "roll_back"]

    def has_add_permission(self, request):
        return False  # versions come from training only

    def has_delete_permission(self, request, obj=None):
        # Deleting a version takes its audit entries with it (cascade), leaves its files on disk and,
        # for the champion, the label set with nothing served and nothing to roll back to.
        return False

    @admin.action(description="Promote to champion (recorded in the audit log)", permissions=["change"])
    def promote_selected(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to promote.", messages.ERROR)
            return
        version = queryset.get()
        try:
            registry.verify(version)
            registry.promote(
                version, actor=request.user.get_username(), user=request.user, reason="promoted in admin"
            )
        except (registry.ArtifactError, ValueError) as e:
            self.message_user(request, str(e), messages.ERROR)
            return
        self.message_user(request, f"v{version.pk} is now champion.")

    @admin.action(description="Roll back to the previous champion of this label set", permissions=["change"])
    def roll_back(self, request, queryset):
        for key in sorted(set(queryset.values_list("label_set_key", flat=True))):
            try:
                restored = registry.rollback(
                    label_set_key=key,
                    actor=request.user.get_username(),
                    user=request.user,
                    reason="admin rollback",
                )
            except (registry.ArtifactError, ValueError) as e:
                self.message_user(request, str(e), messages.ERROR)
                continue
            self.message_user(request, f"{key}: v{restored.pk} is champion again.")


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ("id", "trigger", "status", "label_set_key", "model_version", "created_at", "finished_at")
    list_filter = ("status", "trigger", "label_set_key")
    readonly_fields = [f.name for f in TrainingRun._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(AuditLog)
class AuditLogAdmin(admin.ModelAdmin):
    list_display = ("created_at", "action", "model_version", "previous_champion", "actor", "reason")
    list_filter = ("action",)
    readonly_fields = [f.name for f in AuditLog._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # the audit log is the record of who changed what serves; nobody edits it


# --- edge agents ---
from ml.models import EdgeAgent, EdgeBundle, EdgePrediction, EdgeReport, EnrolmentToken  # noqa: E402


@admin.register(EdgeAgent)
class EdgeAgentAdmin(admin.ModelAdmin):
    list_display = ("name", "site", "model_version", "backlog", "last_seen", "enrolled_at", "revoked_at")
    list_filter = ("site__region", "model_version")
    search_fields = ("name", "site__code")
    readonly_fields = ("token_hash", "capabilities", "last_status", "enrolled_at", "last_seen", "backlog")


@admin.register(EnrolmentToken)
class EnrolmentTokenAdmin(admin.ModelAdmin):
    list_display = ("site", "note", "created_at", "expires_at", "used_at", "agent")
    readonly_fields = ("token_hash", "used_at", "agent")

    def has_add_permission(self, request):
        return False  # issued with `manage.py create_enrolment_token`, which shows the raw token once


@admin.register(EdgeBundle)
class EdgeBundleAdmin(admin.ModelAdmin):
    list_display = (
        "version",
        "kind",
        "model_version",
        "intended_tier",
        "intended_site",
        "bytes",
        "active",
        "created_at",
    )
    list_filter = ("kind", "active", "intended_tier")
    readonly_fields = ("version", "path", "sha256", "bytes", "kind", "base_version", "metrics", "created_at")


@admin.register(EdgePrediction)
class EdgePredictionAdmin(admin.ModelAdmin):
    list_display = (
        "predicted_at",
        "site",
        "agent",
        "source",
        "external_id",
        "resolution",
        "confidence",
        "abstained",
        "latency_ms",
        "model_version",
    )
    list_filter = ("model_version", "abstained")
    search_fields = ("external_id", "idempotency_key")
    readonly_fields = [f.name for f in EdgePrediction._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(EdgeReport)
class EdgeReportAdmin(admin.ModelAdmin):
    list_display = ("created_at", "agent", "kind")
    list_filter = ("kind",)
    readonly_fields = ("agent", "kind", "metrics", "created_at")

    def has_add_permission(self, request):
        return False


# --- Feedback and outbound webhooks ---
from datetime import timedelta  # noqa: E402

from django.db.models import URLField  # noqa: E402
from django.utils import timezone  # noqa: E402

from ml.core import webhooks  # noqa: E402
from ml.models import Feedback, WebhookDelivery, WebhookSubscription  # noqa: E402
from ml.models.webhooks import new_secret  # noqa: E402

_DELIVERY_FIELDS = (
    "event",
    "status",
    "attempts",
    "last_status_code",
    "last_error",
    "next_attempt_at",
    "delivered_at",
    "created_at",
)


class WebhookDeliveryInline(admin.TabularInline):
    """The delivery log of the last 30 days; older ones are under Webhook deliveries."""

    model = WebhookDelivery
    fields = ("id", *_DELIVERY_FIELDS)
    readonly_fields = fields
    ordering = ("-created_at", "-id")
    extra = 0
    can_delete = False
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).filter(created_at__gte=timezone.now() - timedelta(days=30))

    def has_add_permission(self, request, obj=None):
        return False


class WebhookSubscriptionForm(forms.ModelForm):
    """The secret is never sent back to the browser: left blank, an edit keeps the stored one and a
    new subscription gets one generated, shown once after saving."""

    secret = forms.CharField(
        required=False,
        min_length=16,
        max_length=200,
        widget=forms.PasswordInput(render_value=False),
        help_text="Shared HMAC secret. Blank keeps the stored one (a new subscription gets one generated, "
        "shown once after saving).",
    )

    class Meta:
        model = WebhookSubscription
        fields = "__all__"  # noqa: DJ007 -- the admin edits every field the model lets it

        @staticmethod
        def formfield_callback(field, **kwargs):
            if isinstance(field, URLField):
                kwargs.setdefault("assume_scheme", "https")
            return field.formfield(**kwargs)

    def clean_secret(self) -> str:
        return self.cleaned_data["secret"] or (self.instance.secret if self.instance.pk else "")


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    form = WebhookSubscriptionForm
    list_display = ("id", "name", "url", "events", "active", "created_at")
    list_filter = ("active",)
    search_fields = ("name", "url")
    inlines = [WebhookDeliveryInline]
    formfield_overrides = {URLField: {"assume_scheme": "https"}}

    def save_model(self, request, obj, form, change):
        generated = not obj.secret
        if generated:
            obj.secret = new_secret()
        super().save_model(request, obj, form, change)
        if generated:
            self.message_user(
                request,
                f"The subscription's secret is {obj.secret} - give it to the receiver now: "
                "it is not shown again.",
                messages.WARNING,
            )


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ("id", "subscription", *_DELIVERY_FIELDS[:4], "created_at", "delivered_at")
    list_filter = ("status", "event", "subscription")
    readonly_fields = ("subscription", "payload", *_DELIVERY_FIELDS)
    actions = ["redeliver"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Deliver again now (fresh attempt budget)", permissions=["change"])
    def redeliver(self, request, queryset):
        queued = sum(webhooks.webhook_redeliver(pk) for pk in queryset.values_list("pk", flat=True))
        self.message_user(request, f"{queued} deliveries queued.")


@admin.register(Feedback)
class FeedbackAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "ticket",
        "action",
        "recommended_resolution",
        "chosen_resolution",
        "username",
        "model_version",
    )
    list_filter = ("action",)
    search_fields = ("ticket__external_id", "username")
    readonly_fields = [f.name for f in Feedback._meta.fields]

    def has_add_permission(self, request):
        return False  # feedback comes from engineers through the API and pages


from django.utils.html import format_html, format_html_join  # noqa: E402

from ml.fleet import placement_service  # noqa: E402
from ml.models import SiteComputeProfile  # noqa: E402


@admin.register(SiteComputeProfile)
class SiteComputeProfileAdmin(admin.ModelAdmin):
    """Edit a site's profile; saving decides its placement again (docs/placement.md)."""

    list_display = (
        "site",
        "pattern",
        "artefact",
        "latency_budget_ms",
        "uplink_mbps",
        "reported_at",
        "decided_at",
    )
    list_select_related = ("site",)
    search_fields = ("site__code",)
    readonly_fields = ("placement", "reasons", "rejected_patterns", "reported_at", "decided_at")
    fieldsets = (
        (None, {"fields": ("site", "placement", "reasons", "rejected_patterns")}),
        (
            "Hardware and link (an edge agent's report overwrites these)",
            {
                "fields": (
                    "cpu_cores",
                    "cpu_ghz",
                    "memory_mb",
                    "accelerator",
                    "storage_gb",
                    "uplink_mbps",
                    "rtt_ms",
                    "reported_at",
                )
            },
        ),
        (
            "Policy",
            {
                "fields": (
                    "latency_budget_ms",
                    "tickets_per_day",
                    "data_must_stay_local",
                    "batch_data_mb_per_day",
                )
            },
        ),
        ("Decision", {"fields": ("decided_at",)}),
    )
    actions = ["recompute"]

    @admin.display(description="placement")
    def placement(self, obj):
        d = obj.decision or {}
        if not d:
            return "not decided yet"
        return format_html(
            "<strong>{}</strong> ({})<br>artefact {}; at the site {} ms, central round trip {} ms; "
            "model updates {} bytes each; uplink {} bytes/day",
            d.get("pattern") or "none",
            d.get("pattern_name"),
            d.get("artefact") or "none",
            d.get("predicted_edge_latency_ms"),
            d.get("central_round_trip_ms"),
            d.get("model_update_bytes"),
            d.get("data_uplink_bytes_per_day"),
        )

    @admin.display(description="reasons")
    def reasons(self, obj):
        items = (obj.decision or {}).get("reasons", []) + [
            f"warning: {w}" for w in (obj.decision or {}).get("warnings", [])
        ]
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((r,) for r in items)))

    @admin.display(description="why not the other patterns")
    def rejected_patterns(self, obj):
        rejected = (obj.decision or {}).get("rejected", {})
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{}: {}</li>", sorted(rejected.items())))

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        placement_service.site_placement(obj.site, recompute=True)

    @admin.action(description="Decide the placement again", permissions=["change"])
    def recompute(self, request, queryset):
        for profile in queryset.select_related("site"):
            placement_service.site_placement(profile.site, recompute=True)
        self.message_user(request, f"{queryset.count()} placements decided again.")


# --- drift and shadow ---
from ml.models import DriftReport, ShadowDeployment  # noqa: E402


@admin.register(DriftReport)
class DriftReportAdmin(admin.ModelAdmin):
    list_display = ("computed_at", "label_set_key", "model_version", "fired", "reasons", "training_run")
    list_filter = ("fired", "label_set_key")
    readonly_fields = [f.name for f in DriftReport._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(ShadowDeployment)
class ShadowDeploymentAdmin(admin.ModelAdmin):
    list_display = ("model_version", "active", "started_at", "agreement", "candidate_accuracy", "confirmed")
    list_filter = ("active",)
    readonly_fields = ("model_version", "started_at", "stopped_at", "started_by", "summary", "summarised_at")
    fields = ("active", *readonly_fields)

    def has_add_permission(self, request):
        return False  # started from the API (POST /api/v1/models/{id}/shadow/)

    @admin.display(description="agreement with champion")
    def agreement(self, obj):
        return obj.summary.get("agreement")

    @admin.display(description="accuracy on resolved tickets")
    def candidate_accuracy(self, obj):
        return obj.summary.get("candidate_accuracy")

    @admin.display(description="resolved tickets")
    def confirmed(self, obj):
        return obj.summary.get("confirmed")


from ml.models import Recommendation  # noqa: E402


@admin.register(Recommendation)
class RecommendationAdmin(admin.ModelAdmin):
    """Cached answers, one per (ticket revision, model version); read-only, recomputed by the API."""

    list_display = (
        "ticket",
        "ticket_revision",
        "model_version",
        "top_resolution",
        "top_confidence",
        "abstained",
        "created_at",
    )
    list_filter = ("abstained", "model_version")
    search_fields = ("ticket__external_id", "top_resolution")
    raw_id_fields = ("ticket", "model_version")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
