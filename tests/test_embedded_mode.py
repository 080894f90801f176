"""`make demo`'s embedded mode: with no DATABASE_URL the whole schema migrates on SQLite and the demo loads.

The rest of the suite runs on PostgreSQL, so this is the test that keeps SQLite-only breakage
(an index SQLite cannot build, a PostgreSQL-only query) out of the demo.
"""

import os
import subprocess
import sys

import pytest
from django.conf import settings

pytestmark = pytest.mark.slow  # starts the embedded web, worker and beat processes


def _manage(*args: str, data_dir) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(TICKETAI_DATA_DIR=str(data_dir), TICKETAI_LOG_FORMAT="plain")
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_demo_migrates_and_loads_simulated_tickets_on_sqlite(tmp_path):
    migrated = _manage("migrate", "--noinput", data_dir=tmp_path)
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    loaded = _manage("setup_demo", "--tickets", "150", "--out", str(tmp_path / "demo"), data_dir=tmp_path)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    assert (tmp_path / "ticketai.sqlite3").exists()
    counted = _manage(
        "shell",
        "-c",
        "from repair_center.models import Ticket; print(Ticket.objects.count())",
        data_dir=tmp_path,
    )
    assert counted.returncode == 0, counted.stderr[-3000:]
    assert int(counted.stdout.strip().splitlines()[-1]) >= 140


SEARCH = """
from frontend.queue import QueueFilters, ticket_queue
from repair_center.models import Ticket
from repair_center.services.tickets import tickets_upsert

tickets_upsert(documents=[{"external_id": "S-1", "title": "Fiber cut near the train station"},
                          {"external_id": "S-2", "title": "Heavy rain, MW hop down"}], source="srch")
def found(q):
    ids = list(ticket_queue(filters=QueueFilters(view="all", q=q)))
    rows = Ticket.objects.filter(pk__in=ids, source="srch")
    return ",".join(sorted(rows.values_list("external_id", flat=True)))
print(found("fibre"), found("rain"), found("microwave"), found("rai") or "-")
"""


def test_the_queue_search_falls_back_to_whole_words_with_variants_on_sqlite(tmp_path):
    migrated = _manage("migrate", "--noinput", data_dir=tmp_path)
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    searched = _manage("shell", "-c", SEARCH, data_dir=tmp_path)
    assert searched.returncode == 0, searched.stderr[-3000:]
    # "fibre" finds "Fiber", "rain" is a whole word (not "train"), MW is microwave, a fragment finds nothing.
    assert searched.stdout.strip().splitlines()[-1] == "S-1 S-2 S-2 -"
