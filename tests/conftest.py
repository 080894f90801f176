import os

# Playwright's sync API runs an event loop in the test thread; Django refuses ORM calls there
# unless told this is deliberate (see shared/RECIPES.md).
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
def anon_client():
    return APIClient()
