"""Settings for the test suite: ticketai.settings, with each pytest-xdist worker on its own Redis
database, so one worker's Celery workers never take another's tasks and a test that empties a queue
empties only its own.

The base URL is kept in TICKETAI_TEST_REDIS_BASE, so a process a test starts (a Celery worker, a
gunicorn) inherits the environment and lands on the same database instead of moving one further.
"""

import os
import secrets
from urllib.parse import urlparse, urlunparse


def _worker_redis_url(base: str, worker: str) -> str:
    """redis://host:6379/3 for worker gw2 -> redis://host:6379/5: base database + worker number."""
    parsed = urlparse(base)
    database = int(parsed.path.strip("/") or 0) + int(worker.removeprefix("gw"))
    if database > 15:
        raise RuntimeError(f"{base} leaves no Redis database for xdist worker {worker}")
    return urlunparse(parsed._replace(path=f"/{database}"))


_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _worker.startswith("gw") and os.environ.get("REDIS_URL"):
    _base = os.environ.setdefault("TICKETAI_TEST_REDIS_BASE", os.environ["REDIS_URL"])
    os.environ["REDIS_URL"] = _worker_redis_url(_base, _worker)

# One secret key for the test process and every process it starts (Celery workers, gunicorn), as in
# production: what one seals (webhook and connector secrets) the others open.
os.environ.setdefault("SECRET_KEY", "tests-" + secrets.token_urlsafe(40))

from ticketai.settings import *  # noqa: E402, F403
