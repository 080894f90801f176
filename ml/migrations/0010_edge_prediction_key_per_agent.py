"""Edge predictions: the idempotency key is unique per agent, not across the fleet.

With a global key, agent B's prediction whose key collided with agent A's was silently dropped as
a duplicate (SECURITY.md, finding 8). The new constraint is added before the old one goes, in the
same transaction, so a key is never without its uniqueness. Its index leads with agent_id, so the
foreign key's own index on agent_id goes too (one index fewer for every insert to maintain).
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("ml", "0009_edge_prediction_lean_indexes"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="edgeprediction",
            constraint=models.UniqueConstraint(
                fields=("agent", "idempotency_key"), name="edgeprediction_agent_idempotency_key_uniq"
            ),
        ),
        migrations.RemoveConstraint(
            model_name="edgeprediction",
            name="edgeprediction_idempotency_key_uniq",
        ),
        # Only the index goes: AlterField would also drop and re-validate the foreign key.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="edgeprediction",
                    name="agent",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="predictions",
                        to="ml.edgeagent",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS ml_edgeprediction_agent_id_f65fbef8",
                    "CREATE INDEX ml_edgeprediction_agent_id_f65fbef8 ON ml_edgeprediction (agent_id)",
                ),
            ],
        ),
    ]
