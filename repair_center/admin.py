from urllib.parse import urlsplit

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.template.response import TemplateResponse
from django_celery_beat.admin import PeriodicTaskAdmin as BeatPeriodicTaskAdmin
from django_celery_beat.models import PeriodicTask

from repair_center.models import (
    AlarmGroupRule,
    ApiToken,
    AssignmentGroup,
    Connector,
    ConnectorRun,
    ErrorCode,
    ErrorCodeAlias,
    NetworkElement,
    RepairRecord,
    ResolutionAlias,
    ResolutionCode,
    Site,
    Ticket,
    TicketAlarm,
    TicketChange,
    TicketErrorCode,
    TicketEvent,
    UnmappedCode,
    UnmappedEventKind,
    WorkNote,
)
from repair_center.services.catalogue import remap_unmapped_codes
from repair_center.services.connectors import (
    connector_delete,
    connector_pull_enqueue,
    connector_schedule_sync,
)
from repair_center.services.history import Actor
from repair_center.services.resolution_merge import MergeError, merge_resolutions


class NetworkElementInline(admin.TabularInline):
    model = NetworkElement
    extra = 0
    fields = ("serial", "name", "kind", "vendor", "model", "software_version", "installed_on")


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "region", "climate", "tier", "needs_curation")
    list_filter = ("tier", "region", "climate", "needs_curation")
    search_fields = ("code", "name", "address")
    inlines = [NetworkElementInline]


@admin.register(NetworkElement)
class NetworkElementAdmin(admin.ModelAdmin):
    list_display = ("serial", "name", "kind", "vendor", "model", "software_version", "site")
    list_filter = ("kind", "vendor")
    search_fields = ("serial", "name", "site__code")
    raw_id_fields = ("site",)


class ErrorCodeAliasInline(admin.TabularInline):
    model = ErrorCodeAlias
    extra = 0


@admin.register(ErrorCode)
class ErrorCodeAdmin(admin.ModelAdmin):
    list_display = ("code", "domain", "severity", "description")
    list_filter = ("domain", "severity")
    search_fields = ("code", "description")
    inlines = [ErrorCodeAliasInline]


@admin.register(ErrorCodeAlias)
class ErrorCodeAliasAdmin(admin.ModelAdmin):
    list_display = ("vendor", "raw_code", "error_code")
    list_filter = ("vendor",)
    search_fields = ("raw_code", "error_code__code")
    actions = ["remap"]

    @admin.action(
        description="Re-map stored unmapped ticket codes through the aliases", permissions=["change"]
    )
    def remap(self, request, queryset):
        count = remap_unmapped_codes()
        self.message_user(request, f"{count} ticket codes and event codes re-mapped.", messages.SUCCESS)


@admin.register(UnmappedCode)
class UnmappedCodeAdmin(admin.ModelAdmin):
    """Raw codes that no alias maps yet: the curation queue."""

    list_display = ("raw_code", "vendor", "occurrences", "first_seen", "last_seen")
    list_filter = ("vendor",)
    search_fields = ("raw_code",)
    readonly_fields = ("first_seen", "last_seen")


@admin.register(UnmappedEventKind)
class UnmappedEventKindAdmin(admin.ModelAdmin):
    """Event kinds a source sent that are not built in: kept as given, listed here to review."""

    list_display = ("kind", "occurrences", "first_seen", "last_seen")
    search_fields = ("kind",)
    readonly_fields = ("first_seen", "last_seen")


class ResolutionAliasInline(admin.TabularInline):
    model = ResolutionAlias
    extra = 0
    fields = ("alias", "created_at")
    readonly_fields = ("created_at",)


@admin.register(ResolutionCode)
class ResolutionCodeAdmin(admin.ModelAdmin):
    list_display = ("code", "title", "needs_site_visit", "typical_duration_minutes", "needs_curation")
    list_filter = ("needs_site_visit", "needs_curation")
    search_fields = ("code", "title", "aliases__alias")
    inlines = [ResolutionAliasInline]
    actions = ["merge_selected"]

    @admin.action(description="Merge the selected codes into one of them", permissions=["change", "delete"])
    def merge_selected(self, request, queryset):
        """A page that asks which code to keep, then the merge (services.resolution_merge)."""
        codes = list(
            queryset.annotate(ticket_count=models.Count("tickets")).order_by("-ticket_count", "code")
        )
        if len(codes) < 2:
            self.message_user(request, "Select two codes or more to merge.", messages.ERROR)
            return None
        into = request.POST.get("into")
        if "apply" not in request.POST or into not in {c.code for c in codes}:
            context = {
                **self.admin_site.each_context(request),
                "title": "Merge resolution codes",
                "codes": codes,
            }
            return TemplateResponse(request, "admin/repair_center/merge_resolutions.html", context)
        try:
            report = merge_resolutions(
                [c.code for c in codes if c.code != into],
                into=into,
                actor=Actor(request.user.get_username(), request.user),
            )
        except MergeError as e:
            self.message_user(request, str(e), messages.ERROR)
            return None
        done = report.summary()
        self.message_user(request, done[:1].upper() + done[1:])
        return None


class TicketErrorCodeInline(admin.TabularInline):
    model = TicketErrorCode
    extra = 0
    raw_id_fields = ("error_code",)


class TicketEventInline(admin.TabularInline):
    model = TicketEvent
    extra = 0
    raw_id_fields = ("error_code",)


class _ReadOnlyInline(admin.TabularInline):
    """Written only by the workflow services (every change is kept); shown here, never edited."""

    extra = 0
    max_num = 0
    can_delete = False

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]


class WorkNoteInline(_ReadOnlyInline):
    model = WorkNote


class TicketChangeInline(_ReadOnlyInline):
    model = TicketChange


class TicketAlarmInline(_ReadOnlyInline):
    """The alarms the ticket names: they come from its source (TMF621 relatedEntity, ``alarms``)."""

    model = TicketAlarm


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    list_display = (
        "external_id",
        "source",
        "title",
        "status",
        "priority",
        "site",
        "assignment_group",
        "assignee",
        "resolution",
        "opened_at",
    )
    list_filter = ("status", "priority", "source", "assignment_group")
    search_fields = ("external_id", "title", "description")
    raw_id_fields = ("site", "element", "resolution", "assignee")
    readonly_fields = ("revision", "content_hash", "source_status", "created_at", "updated_at")
    date_hierarchy = "opened_at"
    list_select_related = ("site", "resolution", "assignment_group", "assignee")
    inlines = [
        TicketErrorCodeInline,
        TicketEventInline,
        TicketAlarmInline,
        WorkNoteInline,
        TicketChangeInline,
    ]


@admin.register(AssignmentGroup)
class AssignmentGroupAdmin(admin.ModelAdmin):
    """Teams tickets are assigned to; a ticket's assignee must be a member of its group."""

    list_display = ("name", "description", "member_count")
    search_fields = ("name", "members__username")
    filter_horizontal = ("members",)

    @admin.display(description="members")
    def member_count(self, group) -> int:
        return group.members.count()


@admin.register(RepairRecord)
class RepairRecordAdmin(admin.ModelAdmin):
    list_display = ("rma_id", "unit_kind", "unit_serial", "finding", "ticket", "received_on", "closed_on")
    list_filter = ("finding", "unit_kind")
    search_fields = ("rma_id", "unit_serial", "ticket_external_id")
    raw_id_fields = ("ticket",)


class ConnectorRunInline(admin.TabularInline):
    model = ConnectorRun
    extra = 0
    can_delete = False
    readonly_fields = [f.name for f in ConnectorRun._meta.fields]
    max_num = 0


CONNECTOR_SECRETS = ("auth_token", "oauth_client_secret")
# The URL each secret is sent to: a secret kept from before goes only where it went before.
SECRET_DESTINATIONS = {"auth_token": "base_url", "oauth_client_secret": "oauth_token_url"}


def _origin(url: str | None) -> str:
    parts = urlsplit(url or "")
    return f"{parts.scheme}://{parts.netloc}".lower()


class ConnectorForm(forms.ModelForm):
    """The token and the client secret are never sent back to the browser: left blank, an edit keeps
    the stored ones; ``clear_secrets`` removes them."""

    clear_secrets = forms.BooleanField(
        required=False, help_text="Remove the stored token and client secret (blank fields keep them)."
    )

    class Meta:
        model = Connector
        fields = "__all__"  # noqa: DJ007 -- the admin edits every field the model lets it
        widgets = {name: forms.PasswordInput(render_value=False) for name in CONNECTOR_SECRETS}

        @staticmethod
        def formfield_callback(field, **kwargs):
            if isinstance(field, models.URLField):
                kwargs.setdefault("assume_scheme", "https")
            return field.formfield(**kwargs)

    def clean(self):
        data = super().clean()
        for name in CONNECTOR_SECRETS:
            if data.get("clear_secrets"):
                data[name] = ""
            elif not data.get(name) and self.instance.pk:
                data[name] = getattr(self.instance, name)
                self._check_destination(name, data)
        return data

    def _check_destination(self, name: str, data: dict) -> None:
        """A kept secret for a URL moved to another server (a typo, a look-alike host) is not sent there
        unasked: the admin enters it again for the new server."""
        url_field = SECRET_DESTINATIONS[name]
        before, after = _origin(getattr(self.instance, url_field)), _origin(data.get(url_field))
        if data[name] and url_field in data and after != before and not self.has_error(url_field):
            self.add_error(
                name,
                f"{url_field} now points to {after}, and the stored secret was entered for {before}: "
                "enter it again to send it there",
            )


@admin.register(Connector)
class ConnectorAdmin(admin.ModelAdmin):
    form = ConnectorForm
    list_display = (
        "name",
        "kind",
        "preset",
        "base_url",
        "interval_minutes",
        "enabled",
        "cursor",
        "last_pull",
        "last_success_at",
    )
    list_filter = ("kind", "preset", "enabled")
    readonly_fields = ("last_run_at", "last_success_at", "last_error")
    inlines = [ConnectorRunInline]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    actions = ["pull_now"]

    def save_model(self, request, obj, form, change):
        moved = sorted(set(form.changed_data) & set(Connector.PULL_SCOPE)) if change else []
        if moved and obj.cursor and "cursor" not in form.changed_data:
            # Kept, it would skip whatever the new source holds from before that time.
            obj.cursor = ""
            self.message_user(
                request,
                f"Cursor cleared because {', '.join(moved)} changed: the next pull reads all it selects.",
                level=messages.WARNING,
            )
        super().save_model(request, obj, form, change)
        connector_schedule_sync(obj)

    def delete_model(self, request, obj):
        connector_delete(obj)

    def delete_queryset(self, request, queryset):
        for connector in queryset:
            connector_delete(connector)

    @admin.display(description="Last pull")
    def last_pull(self, obj: Connector) -> str:
        # The last success alone hides a connector that has failed ever since: say so in the list.
        if obj.last_run_at is None:
            return "never"
        return f"failed: {obj.last_error[:120]}" if obj.last_error else "succeeded"

    @admin.action(description="Pull now", permissions=["change"])
    def pull_now(self, request, queryset):
        connectors = list(queryset.filter(enabled=True))
        for connector in connectors:
            connector_pull_enqueue(connector)
        self.message_user(request, f"{len(connectors)} pull(s) queued; see the runs below each connector.")
        disabled = ", ".join(queryset.filter(enabled=False).values_list("name", flat=True))
        if disabled:
            self.message_user(request, f"Not pulled, disabled: {disabled}.", level=messages.WARNING)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("prefix", "user", "name", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("prefix", "key_hash", "created_at", "last_used_at")
    search_fields = ("user__username", "name", "prefix")


@admin.register(AlarmGroupRule)
class AlarmGroupRuleAdmin(admin.ModelAdmin):
    """Rules that open a ticket for an alarm group (services/grouping.py)."""

    list_display = ("name", "enabled", "min_severity", "min_alarms", "source")
    list_filter = ("enabled", "min_severity")


admin.site.unregister(PeriodicTask)


@admin.register(PeriodicTask)
class PeriodicTaskAdmin(BeatPeriodicTaskAdmin):
    """django-celery-beat's, but its actions (run now, enable, disable) only for those who may change
    tasks: its own are offered to anyone who may view the list, and "run now" starts training."""

    def get_actions(self, request):
        return super().get_actions(request) if self.has_change_permission(request) else {}
