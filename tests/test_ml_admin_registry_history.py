"""The registry's history survives the admin: versions and audit entries cannot be deleted there.

Deleting a version cascades to its audit entries (who promoted it, what it replaced), leaves its
files on disk, and, for the champion, leaves the label set with no model served and nothing to
roll back to.
"""

from ml.models import AuditLog, ModelVersion
from tests.factories import ModelVersionFactory


def _promoted_pair() -> tuple[ModelVersion, ModelVersion]:
    first = ModelVersionFactory(status=ModelVersion.Status.ARCHIVED)
    second = ModelVersionFactory(status=ModelVersion.Status.CHAMPION)
    AuditLog.objects.create(action=AuditLog.Action.PROMOTE, model_version=first, actor="system")
    AuditLog.objects.create(
        action=AuditLog.Action.PROMOTE, model_version=second, previous_champion=first, actor="system"
    )
    return first, second


def test_the_admin_cannot_delete_the_champion_or_its_audit_entries(admin_client):
    _, champion = _promoted_pair()

    page = admin_client.post(f"/admin/ml/modelversion/{champion.pk}/delete/", {"post": "yes"})

    assert page.status_code == 403
    assert ModelVersion.objects.get(pk=champion.pk).status == ModelVersion.Status.CHAMPION
    entry = AuditLog.objects.get(model_version=champion)
    assert admin_client.post(f"/admin/ml/auditlog/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditLog.objects.count() == 2


def test_the_bulk_delete_action_is_not_offered_for_versions_or_audit_entries(admin_client):
    first, champion = _promoted_pair()

    for url, pks in (
        ("/admin/ml/modelversion/", [first.pk, champion.pk]),
        ("/admin/ml/auditlog/", list(AuditLog.objects.values_list("pk", flat=True))),
    ):
        listing = admin_client.get(url)
        assert listing.status_code == 200 and b'value="delete_selected"' not in listing.content
        admin_client.post(url, {"action": "delete_selected", "_selected_action": pks, "post": "yes"})

    assert ModelVersion.objects.count() == 2 and AuditLog.objects.count() == 2
