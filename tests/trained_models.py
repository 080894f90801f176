"""Models trained once per test session and shared, read-only, by the tests that need one.

Training even a tiny model costs seconds to a minute, so the session fixtures in ``conftest.py``
train each model once, keep its artifact directory for the whole session and record the rows
the training wrote (catalogue, tickets, the run, the version) as a snapshot; then they delete
those rows. A fixture that needs the model restores the snapshot (the same primary keys, so the
ticket ids inside the artifact still match) and removes it afterwards. The artifact files are
shared: a test may read them or hard-link them elsewhere, never change them in place.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.apps import apps
from django.core import serializers
from django.core.management.color import no_style
from django.db import connection, transaction
from django.db.models import Model

# Open tickets beside the labelled ones in the teacher's corpus: distillation's unlabelled input.
TEACHER_OPEN_TICKETS = 12


def _tables() -> list[type[Model]]:
    """Every concrete model, ordered so that a model comes after the models it refers to."""
    concrete = [m for m in apps.get_models() if m._meta.managed and not m._meta.proxy]
    by_app: dict[str, list[type[Model]]] = {}
    for model in concrete:
        by_app.setdefault(model._meta.app_label, []).append(model)
    return serializers.sort_dependencies(
        [(apps.get_app_config(label), models) for label, models in by_app.items()], allow_cycles=True
    )


def _keys() -> dict[type[Model], set]:
    return {model: set(model._default_manager.values_list("pk", flat=True)) for model in _tables()}


@dataclass(frozen=True)
class Snapshot:
    """Rows written by a training, as serialised JSON, and the models they belong to (in order)."""

    data: str
    models: tuple[type[Model], ...]
    keys: dict[type[Model], frozenset]

    def restore(self) -> None:
        with transaction.atomic():
            for item in serializers.deserialize("json", self.data):
                item.save()
            with connection.cursor() as cursor:
                for sql in connection.ops.sequence_reset_sql(no_style(), list(self.models)):
                    cursor.execute(sql)

    def remove(self) -> None:
        """Delete the snapshot's rows, those that refer to others first."""
        for model in reversed(self.models):
            model._default_manager.filter(pk__in=self.keys[model]).delete()


@contextmanager
def recording() -> Iterator[list[Snapshot]]:
    """Record the rows written inside the block; the snapshot is appended to the yielded list."""
    before = _keys()
    out: list[Snapshot] = []
    yield out
    objects, models, keys = [], [], {}
    for model, now in _keys().items():
        added = now - before.get(model, set())
        if not added:
            continue
        new = model._default_manager.filter(pk__in=added)
        rows = list(new.order_by("pk"))
        if rows:
            objects.extend(rows)
            models.append(model)
            keys[model] = frozenset(row.pk for row in rows)
    out.append(Snapshot(serializers.serialize("json", objects), tuple(models), keys))


def pin_to_session_folder(version_id: int) -> None:
    """Store the version's folder as an absolute path, as rows written before migration 0018 did.

    Fixtures point TICKETAI_MODEL_DIR at a fresh folder per module or test after training; an
    absolute path resolves as itself wherever the setting points, so the session's files are found.
    """
    from ml.models import ModelVersion

    version = ModelVersion.objects.get(pk=version_id)
    ModelVersion.objects.filter(pk=version_id).update(artifact_path=str(version.artifact_dir))
