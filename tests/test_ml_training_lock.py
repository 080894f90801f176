"""At most one training per label set runs at a time, enforced by the database."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from ml.models import TrainingRun
from ml.training.services import TrainingBusy, claim, train_model, training_run_create
from tests.factories import TrainingRunFactory


def test_the_database_refuses_a_second_running_training_of_a_label_set(db):
    TrainingRunFactory(status=TrainingRun.Status.RUNNING, label_set_key="resolution")
    TrainingRunFactory(status=TrainingRun.Status.RUNNING, label_set_key="resolution:noc")
    with pytest.raises(IntegrityError), transaction.atomic():
        TrainingRunFactory(status=TrainingRun.Status.RUNNING, label_set_key="resolution")


def test_a_run_queued_while_another_trains_is_skipped_naming_the_holder(db):
    holder = TrainingRunFactory(
        status=TrainingRun.Status.RUNNING, label_set_key="resolution", heartbeat_at=timezone.now()
    )
    run = train_model()
    assert run.status == TrainingRun.Status.SKIPPED
    assert run.reason == f"run #{holder.pk} is already training label set 'resolution'"
    holder.refresh_from_db()
    assert holder.status == TrainingRun.Status.RUNNING


def test_a_run_is_claimed_once_even_when_delivered_twice(db):
    run = training_run_create()
    assert claim(run) is True
    assert run.status == TrainingRun.Status.RUNNING and run.started_at is not None
    assert claim(run) is False


def test_other_label_sets_train_side_by_side(db):
    training_run_create(sources=["noc"])
    first, second = training_run_create(sources=["noc"]), training_run_create(sources=["radio", "core"])
    assert (first.label_set_key, second.label_set_key) == ("resolution:noc", "resolution:core,radio")
    assert claim(first) and claim(second)
    with pytest.raises(TrainingBusy):
        claim(training_run_create(sources=["noc"]))


def test_a_run_whose_worker_vanished_frees_the_label_set(db, settings):
    settings.TICKETAI_TRAINING_STALE_S = 600
    lost = TrainingRunFactory(
        status=TrainingRun.Status.RUNNING,
        label_set_key="resolution",
        heartbeat_at=timezone.now() - timedelta(seconds=601),
    )
    run = training_run_create()
    assert claim(run)
    lost.refresh_from_db()
    assert lost.status == TrainingRun.Status.FAILED
    assert "no progress for 600 s" in lost.reason
