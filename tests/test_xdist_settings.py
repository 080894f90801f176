"""tests/settings.py: each pytest-xdist worker gets its own Redis database after the base URL's."""

import os

import pytest

from tests.settings import _worker_redis_url


@pytest.mark.parametrize(
    ("base", "worker", "expected"),
    [
        ("redis://127.0.0.1:6379/0", "gw0", "redis://127.0.0.1:6379/0"),
        ("redis://127.0.0.1:6379/0", "gw1", "redis://127.0.0.1:6379/1"),
        ("redis://127.0.0.1:6379/10", "gw3", "redis://127.0.0.1:6379/13"),
        ("redis://:secret@cache:6380", "gw2", "redis://:secret@cache:6380/2"),
    ],
)
def test_a_worker_lands_on_the_base_database_plus_its_number(base, worker, expected):
    assert _worker_redis_url(base, worker) == expected


def test_a_worker_past_the_sixteenth_database_is_refused_by_name():
    with pytest.raises(RuntimeError, match="gw6"):
        _worker_redis_url("redis://127.0.0.1:6379/10", "gw6")


def test_this_process_uses_the_redis_database_meant_for_it(settings):
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    base = os.environ.get("TICKETAI_TEST_REDIS_BASE")
    if worker.startswith("gw") and base:
        expected = _worker_redis_url(base, worker)
    else:  # one process (plain pytest): the URL it was given
        expected = os.environ.get("REDIS_URL") or None
    assert (settings.REDIS_URL or None) == expected
    if expected:
        assert expected == settings.CELERY_BROKER_URL
