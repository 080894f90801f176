import os

# Playwright's sync API runs an event loop in the test thread; Django refuses ORM calls there
# unless told this is deliberate.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

import pytest
from django.contrib.auth.models import Group, User
from rest_framework.test import APIClient

from repair_center.models import ApiToken


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # The real hasher costs ~0.3 s per user; tests create many users and test no hashing.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _user(username: str, *groups: str, superuser: bool = False) -> User:
    user = User.objects.create_user(
        username=username, password="pw-" + username, is_superuser=superuser, is_staff=superuser
    )
    for name in groups:
        # get_or_create: transactional tests flush the groups the roles migration made.
        user.groups.add(Group.objects.get_or_create(name=name)[0])
    return user


@pytest.fixture
def engineer(db):
    return _user("eng", "engineer")


@pytest.fixture
def integration(db):
    return _user("integ", "integration")


@pytest.fixture
def admin_user(db):
    return _user("boss", "admin", superuser=True)


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
    return _client_for(_user("fm", "fault_management"))


@pytest.fixture
def anon_client():
    return APIClient()


@pytest.fixture(scope="module")
def trained_champion(django_db_setup, django_db_blocker, tmp_path_factory):
    """A tiny champion trained once per test module on committed data (4 fixes, 8 tickets each).

    The data is committed so every test of the module sees it, and deleted afterwards (only these
    tables: data that migrations seed elsewhere stays for the tests that follow).
    """
    from django.db import connection
    from django.test import override_settings

    from ml.models import TrainingRun
    from ml.serving.inference import reset_cache
    from ml.training.fine_tuning import TrainingConfig
    from ml.training.services import train_model
    from repair_center.services.tickets import tickets_upsert
    from tests.factories import ml_catalogue, ml_ticket_documents

    override = override_settings(TICKETAI_MODEL_DIR=tmp_path_factory.mktemp("models"))
    override.enable()
    try:
        with django_db_blocker.unblock():
            if not connection.is_usable():  # a server-side disconnect between modules
                connection.close()
            ml_catalogue()
            tickets_upsert(documents=ml_ticket_documents(per_class=8), source="noc")
            run = train_model(
                config=TrainingConfig(epochs=1, max_length=48, batch_size=8, max_train_samples=16)
            )
            assert run.status == TrainingRun.Status.SUCCEEDED, run.reason
            version = run.model_version
        yield version
    finally:
        reset_cache()
        with django_db_blocker.unblock():
            _delete_ml_corpus()
        override.disable()


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
    for model in (AuditLog, TrainingRun, ModelVersion, Ticket, UnmappedCode, NetworkElement, Site,
                  ErrorCode, ResolutionCode):  # fmt: skip
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
