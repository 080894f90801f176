from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("ml", "0007_recommendations"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="recommendation",
            index=models.Index(
                condition=models.Q(abstained=True),
                fields=["ticket", "ticket_revision"],
                name="recommendation_abstained_idx",
            ),
        ),
    ]
