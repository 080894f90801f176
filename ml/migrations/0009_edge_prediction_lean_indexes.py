"""Edge predictions: two indexes fewer for every insert to maintain.

- idempotency_key: a unique constraint instead of unique=True, which on PostgreSQL also built a
  varchar_pattern_ops (LIKE) index that no query uses. The new constraint is added before the old
  one goes, in the same transaction, so the key is never without its uniqueness.
- site: no index of its own; the (site, model_version) index serves lookups by site.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("ml", "0008_recommendation_abstained_index"),
        ("repair_center", "0001_initial"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="edgeprediction",
            constraint=models.UniqueConstraint(
                fields=("idempotency_key",), name="edgeprediction_idempotency_key_uniq"
            ),
        ),
        migrations.AlterField(
            model_name="edgeprediction",
            name="idempotency_key",
            field=models.CharField(max_length=100),
        ),
        # Only the index goes: AlterField would also drop and re-validate the foreign key.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="edgeprediction",
                    name="site",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="repair_center.site",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS ml_edgeprediction_site_id_97a4e15b",
                    "CREATE INDEX ml_edgeprediction_site_id_97a4e15b ON ml_edgeprediction (site_id)",
                ),
            ],
        ),
    ]
