"""New and changed tickets get their recommendation from a real worker after ingest, through the
tickets_changed signal and ml.tasks.recommend_tickets; nothing is queued before a model exists."""

import pytest
import redis

from ml.models import ModelVersion, TrainingRun
from ml.models.recommendations import Recommendation
from ml.tasks import recommend_tickets
from ml.training.fine_tuning import TrainingConfig
from ml.training.services import train_model
from repair_center.models import Ticket
from repair_center.services.tickets import tickets_upsert
from tests.factories import ml_catalogue, ml_ticket_documents
from tests.fake_ticketing_server import wait_until
from tests.test_celery_worker import _environment, start_worker  # noqa: F401 (a fixture)

pytestmark = pytest.mark.slow
WAIT_S = 120


def _queued(url: str) -> int:
    return redis.Redis.from_url(url).llen("default")


def test_without_a_champion_ingest_queues_nothing_and_the_task_does_nothing(
    db, django_capture_on_commit_callbacks, settings
):
    assert settings.REDIS_URL, "set REDIS_URL: this test needs a real Redis"
    ml_catalogue()
    before = _queued(settings.REDIS_URL)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        results = tickets_upsert(documents=ml_ticket_documents(per_class=1), source="noc")

    assert len(callbacks) == 1  # the tickets_changed signal, sent once per call
    assert _queued(settings.REDIS_URL) == before
    outcome = recommend_tickets.apply(args=[[r.id for r in results]]).get()
    assert outcome == {"model_version": None, "computed": 0, "cached": 0, "missing": 0}
    assert not Recommendation.objects.exists()


def test_a_worker_recommends_new_and_changed_tickets_after_ingest(start_worker, tmp_path, settings):  # noqa: F811
    assert settings.REDIS_URL, "set REDIS_URL: this test needs a real Redis"
    settings.TICKETAI_MODEL_DIR = tmp_path / "models"
    ml_catalogue()
    tickets_upsert(documents=ml_ticket_documents(per_class=8), source="noc")
    config = TrainingConfig(epochs=1, max_length=48, batch_size=8, max_train_samples=16)
    run = train_model(config=config)
    assert run.status == TrainingRun.Status.SUCCEEDED, run.reason
    version = run.model_version
    assert version.status == ModelVersion.Status.CHAMPION
    # The worker reads the model folder from the same setting, as every service of a deployment does:
    # a version's files are stored relative to it.
    environment = _environment(tmp_path / "data", redis_url=settings.REDIS_URL)
    _, log = start_worker({**environment, "TICKETAI_MODEL_DIR": str(settings.TICKETAI_MODEL_DIR)})

    new = ml_ticket_documents(per_class=1, prefix="LIVE", classes=["FIX_MAINS", "ROLLBACK_SW"])
    for document in new:
        document.pop("resolution")
        document["status"] = "acknowledged"
        document.pop("resolved_at")
    results = tickets_upsert(documents=new, source="noc")
    ids = [r.id for r in results]

    assert wait_until(
        lambda: Recommendation.objects.filter(ticket_id__in=ids).count() == 2, timeout=WAIT_S, interval=0.5
    ), log.read_text()
    rows = {r.ticket.external_id: r for r in Recommendation.objects.select_related("ticket")}
    assert rows["LIVE-FIX_MAINS-000"].top_resolution == "FIX_MAINS"
    assert rows["LIVE-ROLLBACK_SW-000"].top_resolution == "ROLLBACK_SW"
    assert {(r.ticket_revision, r.model_version_id) for r in rows.values()} == {(1, version.pk)}

    new[0]["title"] = "mains restored, batteries still low"
    [changed] = tickets_upsert(documents=[new[0]], source="noc")
    assert changed.status == "updated"
    assert wait_until(
        lambda: Recommendation.objects.filter(ticket_id=changed.id, ticket_revision=2).exists(),
        timeout=WAIT_S,
        interval=0.5,
    ), log.read_text()
    assert Ticket.objects.get(pk=changed.id).revision == 2
