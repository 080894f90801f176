import os

# Playwright's sync API runs an event loop in the test thread; Django refuses ORM calls there
# unless told this is deliberate.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

import pytest
from rest_framework.test import APIClient

from repair_center.models import ApiToken
from tests.factories import UserFactory

TRAINED_MODEL_FIXTURES = {"trained_champion", "teacher"}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """A test that uses a trained model is slow, whether or not its module says so: the first one
    of a session trains it (before ``-m "not slow"`` deselects anything)."""
    for item in items:
        if TRAINED_MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # The real hasher costs ~0.3 s per user; tests create many users and test no hashing.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def engineer(db):
    return UserFactory(username="eng", roles=["engineer"])


@pytest.fixture
def integration(db):
    return UserFactory(username="integ", roles=["integration"])


@pytest.fixture
def admin_user(db):
    return UserFactory(username="boss", roles=["admin"], is_superuser=True)


def _client_for(user) -> APIClient:
    client = APIClient()
    _, raw = ApiToken.issue(user=user, name="test")
    client.credentials(HTTP_AUTHORIZATION=f"Token {raw}")
    return client


@pytest.fixture
def engineer_client(engineer):
    return _client_for(engineer)


@pytest.fixture
def integration_client(integration):
    return _client_for(integration)


@pytest.fixture
def admin_client_api(admin_user):
    return _client_for(admin_user)


@pytest.fixture
def fault_management_client(db):
    """A fault-management system's token: it may post alarms (TMF642) and nothing else."""
    return _client_for(UserFactory(username="fm", roles=["fault_management"]))


@pytest.fixture
def anon_client():
    return APIClient()


@pytest.fixture(scope="session")
def _champion_training(django_db_setup, django_db_blocker, tmp_path_factory):
    """A tiny champion (4 fixes, 8 tickets each) trained once per session: its snapshot and files."""
    from django.db import connection
    from django.test import override_settings

    from ml.models import TrainingRun
    from ml.serving.inference import reset_cache
    from ml.training.fine_tuning import TrainingConfig
    from ml.training.services import train_model
    from repair_center.services.tickets import tickets_upsert
    from tests.factories import ml_catalogue, ml_ticket_documents
    from tests.trained_models import pin_to_session_folder, recording

    with (
        override_settings(TICKETAI_MODEL_DIR=tmp_path_factory.mktemp("champion")),
        django_db_blocker.unblock(),
    ):
        if not connection.is_usable():  # a server-side disconnect between modules
            connection.close()
        with recording() as snapshot:
            ml_catalogue()
            tickets_upsert(documents=ml_ticket_documents(per_class=8), source="noc")
            run = train_model(
                config=TrainingConfig(epochs=1, max_length=48, batch_size=8, max_train_samples=16)
            )
            assert run.status == TrainingRun.Status.SUCCEEDED, run.reason
            pin_to_session_folder(run.model_version_id)
        snapshot[0].remove()
        reset_cache()
    return snapshot[0], run.model_version_id


@pytest.fixture(scope="module")
def trained_champion(_champion_training, django_db_blocker, tmp_path_factory):
    """The session's tiny champion, its rows committed for this module and deleted afterwards.

    Every test of the module sees the rows; the model files are shared by the whole session and
    are read-only. New versions a test registers go to this module's own model directory.
    """
    from django.db import connection
    from django.test import override_settings

    from ml.models import ModelVersion
    from ml.serving.inference import reset_cache

    snapshot, version_id = _champion_training
    override = override_settings(TICKETAI_MODEL_DIR=tmp_path_factory.mktemp("models"))
    override.enable()
    try:
        with django_db_blocker.unblock():
            if not connection.is_usable():
                connection.close()
            snapshot.restore()
            version = ModelVersion.objects.get(pk=version_id)
        reset_cache()
        yield version
    finally:
        reset_cache()
        with django_db_blocker.unblock():
            snapshot.remove()
            _delete_ml_corpus()
        override.disable()


@pytest.fixture(scope="session")
def _teacher_training(django_db_setup, django_db_blocker, tmp_path_factory):
    """A teacher fine-tuned once per session from a tiny random encoder, on labelled and open tickets."""
    from django.db import connection
    from django.test import override_settings

    from ml.models import TrainingRun
    from ml.training.fine_tuning import TrainingConfig
    from ml.training.services import train_model
    from repair_center.services.tickets import tickets_upsert
    from tests.factories import ml_catalogue, ml_open_ticket_documents, ml_ticket_documents, tiny_encoder_dir
    from tests.trained_models import TEACHER_OPEN_TICKETS, pin_to_session_folder, recording

    root = tmp_path_factory.mktemp("teacher")
    with override_settings(TICKETAI_MODEL_DIR=root / "models"), django_db_blocker.unblock():
        if not connection.is_usable():
            connection.close()
        with recording() as snapshot:
            ml_catalogue()
            tickets_upsert(documents=ml_ticket_documents(per_class=8), source="noc")
            tickets_upsert(documents=ml_open_ticket_documents(TEACHER_OPEN_TICKETS), source="noc")
            config = TrainingConfig(
                base_model=str(tiny_encoder_dir(root / "base")),
                epochs=3,
                max_length=64,
                batch_size=8,
                learning_rate=3e-3,
            )
            run = train_model(config=config)
            assert run.status == TrainingRun.Status.SUCCEEDED, run.reason
            pin_to_session_folder(run.model_version_id)
        snapshot[0].remove()
    return snapshot[0], run.model_version_id


@pytest.fixture
def teacher(_teacher_training, db, settings, tmp_path):
    """The session's teacher as this test's champion, with its corpus; the model files are read-only.

    Students, bundles and new versions go under ``tmp_path / "data"``, where a worker started with
    ``tmp_path / "data"`` as its data directory looks too.
    """
    from ml.models import ModelVersion

    settings.TICKETAI_MODEL_DIR = tmp_path / "data" / "models"
    settings.TICKETAI_EDGE_BUNDLE_DIR = tmp_path / "data" / "bundles"
    snapshot, version_id = _teacher_training
    snapshot.restore()
    return ModelVersion.objects.get(pk=version_id)


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """Rate-limit counters live in the shared cache; every test starts with none spent."""
    from ticketai.throttling import clear_all

    clear_all()


def _delete_ml_corpus() -> None:
    """Remove what trained_champion committed: models, runs, tickets and their catalogue."""
    from ml.models import AuditLog, ModelVersion, TrainingRun
    from repair_center.models import ErrorCode, NetworkElement, ResolutionCode, Site, Ticket, UnmappedCode

    # Order matters: tickets protect their site and resolution.
    in_order = [AuditLog, TrainingRun, ModelVersion, Ticket, UnmappedCode, NetworkElement, Site]
    for model in [*in_order, ErrorCode, ResolutionCode]:
        model.objects.all().delete()


@pytest.fixture
def eager_celery():
    """Tasks enqueued through the broker run in-process (the real task) instead of needing a worker."""
    from ticketai.celery import app as celery_app

    celery_app.conf.task_always_eager = True
    try:
        yield
    finally:
        celery_app.conf.task_always_eager = False
