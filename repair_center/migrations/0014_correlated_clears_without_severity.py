"""Correlated clear events no longer carry the alarm's severity (repair_center.services.correlation):
X.733 clears by the severity "cleared", and a clear's copy of the raise's severity only repeated it
in the model input. Events written before are brought in line, a chunk at a time."""

from django.db import migrations

CHUNK = 2000


def drop_clear_severity(apps, schema_editor):
    TicketEvent = apps.get_model("repair_center", "TicketEvent")
    query = TicketEvent.objects.filter(kind="alarm_cleared", attrs__has_key="alarm").order_by("pk")
    last = 0
    while True:
        events = list(query.filter(pk__gt=last)[:CHUNK])
        if not events:
            return
        last = events[-1].pk
        changed = [
            e for e in events if isinstance(e.attrs, dict) and e.attrs.pop("severity", None) is not None
        ]
        TicketEvent.objects.bulk_update(changed, ["attrs"])


class Migration(migrations.Migration):
    dependencies = [("repair_center", "0013_connector_help_points_to_docs")]

    operations = [migrations.RunPython(drop_clear_severity, migrations.RunPython.noop)]
