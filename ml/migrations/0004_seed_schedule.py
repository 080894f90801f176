"""Seed the default retraining, drift and shadow schedules (editable afterwards in Django admin)."""

from django.db import migrations


def seed(apps, schema_editor):
    from ml.monitoring.retraining import schedule_seed

    schedule_seed(
        periodic_task_model=apps.get_model("django_celery_beat", "PeriodicTask"),
        crontab_model=apps.get_model("django_celery_beat", "CrontabSchedule"),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("ml", "0003_monitoring"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
