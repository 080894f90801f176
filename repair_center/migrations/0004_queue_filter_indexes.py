from django.db import migrations, models

TRIGRAM_FIELDS = ("title", "description", "external_id")


class RunSQLOnPostgreSQL(migrations.RunSQL):
    """pg_trgm exists only in PostgreSQL; the embedded SQLite demo searches by scanning."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    dependencies = [
        ("repair_center", "0003_queue_newest_first_index"),
    ]

    operations = [
        # A trusted extension: the database owner may create it. Not dropped on the way back, as
        # other schemas in the database may use it.
        RunSQLOnPostgreSQL("CREATE EXTENSION IF NOT EXISTS pg_trgm", reverse_sql=migrations.RunSQL.noop),
        # The queue's search is icontains, which Django sends to PostgreSQL as UPPER(column) LIKE
        # UPPER('%...%'): a trigram index on that same expression answers it without a table scan.
        # Not model Meta indexes: expressing the operator class there needs django.contrib.postgres
        # installed, and these indexes only ever exist in PostgreSQL.
        *(
            RunSQLOnPostgreSQL(
                f"CREATE INDEX ticket_{field}_trgm_idx ON repair_center_ticket "
                f"USING gin (UPPER({field}) gin_trgm_ops)",
                reverse_sql=f"DROP INDEX IF EXISTS ticket_{field}_trgm_idx",
            )
            for field in TRIGRAM_FIELDS
        ),
        # Statistics on the indexed expressions now, not whenever autovacuum next gets to the table:
        # without them the planner misjudges how many tickets a search matches.
        RunSQLOnPostgreSQL("ANALYZE repair_center_ticket", reverse_sql=migrations.RunSQL.noop),
        migrations.AddIndex(
            model_name="ticketerrorcode",
            index=models.Index(fields=["error_code", "ticket"], name="ticket_code_curated_idx"),
        ),
        migrations.AddIndex(
            model_name="ticketerrorcode",
            index=models.Index(fields=["raw_code", "ticket"], name="ticket_code_raw_idx"),
        ),
    ]
