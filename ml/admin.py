from django.contrib import admin, messages

from ml import registry
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

    @admin.action(description="Promote to champion (recorded in the audit log)")
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

    @admin.action(description="Roll back to the previous champion of this label set")
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
