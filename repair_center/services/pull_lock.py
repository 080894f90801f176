"""The lock a connector's pull holds for as long as it runs: a PostgreSQL session-level advisory lock.

A pull's ConnectorRun says "running" from its claim to its end, but a worker that dies (killed by a
deploy, the OOM killer, a lost node) never ends it. The advisory lock belongs to the worker's database
session, which ends with the worker, so a run whose lock nobody holds is known abandoned at once,
instead of blocking every pull of its connector until the task time limit has passed (over two hours
by default). Without PostgreSQL there is no such lock, and the time limit decides.

Session locks need the session to be the worker's own: a pooler in transaction mode (pgbouncer) would
share it between workers.
"""

from django.db import DatabaseError, connection

# The advisory lock class of connector pulls ("TAIP"); the object id is the connector's id.
_CLASS = 0x54414950


def take(connector_id: int) -> bool | None:
    """True when this session took the pull's lock, False when another one holds it; None where the
    database has no advisory locks."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_CLASS, connector_id])
        return bool(cursor.fetchone()[0])


def release(connector_id: int) -> None:
    if connection.vendor != "postgresql":
        return
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_CLASS, connector_id])
    except DatabaseError:
        pass  # the session is gone, and its lock with it
