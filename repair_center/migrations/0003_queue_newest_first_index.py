from django.db import migrations, models


class AddIndexExceptOnSQLite(migrations.AddIndex):
    """SQLite cannot put NULLS LAST in an index; there (the embedded demo) the queue sorts without it."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "sqlite":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "sqlite":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    dependencies = [
        ("repair_center", "0002_roles"),
    ]

    operations = [
        AddIndexExceptOnSQLite(
            model_name="ticket",
            index=models.Index(
                models.OrderBy(models.F("opened_at"), descending=True, nulls_last=True),
                models.OrderBy(models.F("id"), descending=True),
                name="ticket_queue_newest_idx",
            ),
        ),
    ]
