"""Pulling tickets and repair records from external systems (Connectors), and their beat schedules.

Presets (ServiceNow, Jira, TMF621: ingestion/presets.py) page through those systems' own APIs;
the generic contract (docs/api.md, "Connectors") is that ``GET base_url?updated_since=<ISO 8601>&page=<n>``
answers ``{"results": [...], "next": <URL (relative to the page) or null>}``, items ordered by updated_at
ascending. Each page is written and the cursor moved in one transaction, so a pull that dies
half-way resumes from the last committed page; ``updated_since`` is inclusive, so the boundary
items come back as unchanged instead of being skipped. After a page that moved the cursor the pull
asks page 1 from the new cursor rather than following ``next``, so a change made during the pull
cannot shift an unread item into a page already read.
"""

import email.utils
import json
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

import httpx
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from repair_center.documents import FIELDS as TICKET_FIELDS
from repair_center.documents import parse_timestamp
from repair_center.ingestion import presets
from repair_center.models import Connector, ConnectorRun
from repair_center.models.connectors import bearer_problem
from repair_center.services import connector_auth, pull_lock, remote_answers
from repair_center.services.alarm_pull import pull_alarm_pages
from repair_center.services.repairs import FIELDS as REPAIR_FIELDS
from repair_center.services.repairs import repairs_upsert
from repair_center.services.tickets import ItemResult, tickets_upsert
from ticketai import outbound
from ticketai.sealed import Unopenable
from ticketai.storable import printable

logger = logging.getLogger(__name__)

PULL_TASK = "repair_center.tasks.pull_connector"
MAX_REJECTS_KEPT = 100
KEEP_RUNS = 50  # of each connector, newest first
# A Retry-After beyond this is the remote asking us to come back on a later schedule, not now: waited
# out (and again on each retry), it would hold a worker for up to half an hour.
MAX_RETRY_AFTER_S = 300.0
_RETRY_STATUSES = {429} | set(range(500, 600))


class ConnectorBusy(Exception):
    """Another pull of the same connector is still running."""


class ConnectorDisabled(Exception):
    """The connector is disabled: a pull queued before that (or by hand) does not run."""


class PullError(Exception):
    """The pull cannot go on: retries exhausted, a refused or malformed answer, or a bad cursor."""


# --- Scheduling -----------------------------------------------------------------------------


def _task_name(connector: Connector) -> str:
    return f"Pull connector {connector.name} (#{connector.pk})"


@transaction.atomic
def connector_schedule_sync(connector: Connector) -> PeriodicTask:
    """Create or update the beat task that pulls this connector every interval_minutes."""
    schedule = IntervalSchedule.objects.filter(
        every=connector.interval_minutes, period=IntervalSchedule.MINUTES
    ).first() or IntervalSchedule.objects.create(
        every=connector.interval_minutes, period=IntervalSchedule.MINUTES
    )
    task = PeriodicTask.objects.filter(pk=connector.periodic_task_id).first()
    if task is None:
        task = PeriodicTask(task=PULL_TASK)
    task.name = _task_name(connector)
    task.task = PULL_TASK
    task.interval = schedule
    task.args = json.dumps([connector.pk])
    task.enabled = connector.enabled
    task.description = f"Pulls {connector.base_url}"
    task.save()
    if connector.periodic_task_id != task.pk:
        # update(), not save(): the caller's instance may hold unsaved edits of other fields.
        Connector.objects.filter(pk=connector.pk).update(periodic_task=task)
        connector.periodic_task = task
    return task


@transaction.atomic
def connector_delete(connector: Connector) -> None:
    """Delete a connector together with its beat task and its run history."""
    task_id = connector.periodic_task_id
    connector.delete()
    if task_id is not None:
        PeriodicTask.objects.filter(pk=task_id).delete()


def connector_schedule_remove_orphan(connector_id: int) -> int:
    """Delete beat tasks still scheduled for a connector that no longer exists; returns how many."""
    deleted, _ = PeriodicTask.objects.filter(task=PULL_TASK, args=json.dumps([connector_id])).delete()
    return deleted


# --- Pulling ------------------------------------------------------------------------------


def pull_connector(connector_id: int) -> ConnectorRun:
    """Pull the connector's new and changed items page by page; returns the finished ConnectorRun.

    Raises Connector.DoesNotExist, ConnectorDisabled, or ConnectorBusy when another pull of it is
    still running.
    A remote failure does not raise: the run is recorded as failed with the reason.
    """
    connector, run = _claim(connector_id)
    try:
        _pull_pages(connector, run)
    except PullError as e:
        _finish(connector, run, error=str(e))
        logger.warning("connector %s: pull failed: %s", connector.name, e)
    except BaseException as e:
        # Bugs and the soft time limit still free the connector for the next pull.
        _finish(connector, run, error=f"{type(e).__name__}: {e}")
        raise
    else:
        _finish(connector, run, error="")
    finally:
        pull_lock.release(connector_id)
    return run


def _claim(connector_id: int) -> tuple[Connector, ConnectorRun]:
    locked = pull_lock.take(connector_id)
    if locked is False:
        raise ConnectorBusy(f"connector #{connector_id} is already being pulled")
    try:
        with transaction.atomic():
            return _claim_locked(connector_id, locked)
    except BaseException:
        if locked:
            pull_lock.release(connector_id)
        raise


def _claim_locked(connector_id: int, locked: bool | None) -> tuple[Connector, ConnectorRun]:
    # The row lock serialises claimers: the second one sees the first one's running run.
    # (On SQLite, IMMEDIATE transactions serialise all writers, which gives the same.)
    connector = Connector.objects.select_for_update().get(pk=connector_id)
    if not connector.enabled:
        # Disabling pauses the beat task, but a pull it queued earlier may still be waiting in the broker.
        raise ConnectorDisabled(f"connector {connector.name} is disabled")
    running = connector.runs.filter(status=ConnectorRun.Status.RUNNING)
    # Nobody holds the lock (PostgreSQL), or the run is older than the hard task time limit: whoever
    # left it running is gone.
    stale_before = timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
    abandoned = running if locked else running.filter(started_at__lt=stale_before)
    abandoned.update(
        status=ConnectorRun.Status.FAILED, finished_at=timezone.now(), error="abandoned: the worker died"
    )
    if running.exists():
        raise ConnectorBusy(f"connector {connector.name} is already being pulled")
    run = ConnectorRun.objects.create(
        connector=connector, cursor_before=connector.cursor, cursor_after=connector.cursor
    )
    Connector.objects.filter(pk=connector.pk).update(last_run_at=timezone.now())
    return connector, run


def _finish(connector: Connector, run: ConnectorRun, *, error: str) -> None:
    now = timezone.now()
    run.status = ConnectorRun.Status.FAILED if error else ConnectorRun.Status.SUCCEEDED
    run.error = error
    run.finished_at = now
    run.save()
    if error:
        Connector.objects.filter(pk=connector.pk).update(last_error=error)
    else:
        Connector.objects.filter(pk=connector.pk).update(last_error="", last_success_at=now)
    # The runs are the connector's recent story, not an archive: a pull every few minutes would grow
    # the table, and the admin page that lists them under the connector, without end.
    kept = ConnectorRun.objects.filter(connector=connector).order_by("-started_at", "-pk")[:KEEP_RUNS]
    ConnectorRun.objects.filter(connector=connector).exclude(pk__in=kept.values("pk")).delete()


def credentials(connector: Connector) -> tuple[dict[str, str], httpx.Auth | None]:
    """(headers, auth) that send the connector's credentials: an OAuth client, basic auth or a bearer
    token. Raises PullError for a secret no key opens or a refused token URL."""
    headers = {"Accept": "application/json", "User-Agent": "TicketAI-connector/1"}
    for name in ("auth_token", "oauth_client_secret"):
        if isinstance(getattr(connector, name), Unopenable):
            raise PullError(
                f"the connector's {name} was sealed under a SECRET_KEY this TicketAI no longer has: "
                "add that key to SECRET_KEY_FALLBACKS, or enter the secret again"
            )
    if connector.oauth_token_url:
        try:
            outbound.check_url(connector.oauth_token_url)
        except outbound.OutboundRefused as e:
            raise PullError(f"oauth_token_url refused: {e}") from None
        auth = connector_auth.ClientCredentials(
            connector.oauth_token_url,
            connector.oauth_client_id,
            connector.oauth_client_secret,
            connector.oauth_scope,
            timeout=httpx.Timeout(settings.TICKETAI_CONNECTOR_TIMEOUT_S),
        )
        return headers, auth
    if connector.auth_token and connector.auth_username:
        return headers, httpx.BasicAuth(connector.auth_username, connector.auth_token)
    if connector.auth_token:
        problem = bearer_problem(connector.auth_token)
        if problem:
            raise PullError(f"the connector's auth_token {problem}: enter it again")
        headers["Authorization"] = f"Bearer {connector.auth_token}"
    return headers, None


def _pull_pages(connector: Connector, run: ConnectorRun) -> None:
    headers, auth = credentials(connector)
    if connector.cursor:
        try:
            parse_timestamp(connector.cursor)
        except ValueError as e:
            raise PullError(f"cursor {connector.cursor!r}: {e}; clear it to pull everything") from None
    try:
        outbound.check_url(connector.base_url)  # again now: the name may resolve elsewhere since the save
    except outbound.OutboundRefused as e:
        raise PullError(f"base_url refused: {e}") from None
    url = _first_page_url(connector.base_url, connector.cursor)
    visited: set[str] = set()
    timeout = httpx.Timeout(settings.TICKETAI_CONNECTOR_TIMEOUT_S)
    # Redirects are not followed (one could carry the bearer token to another host), and every
    # connection is checked by the outbound guard, on the address it actually reaches.
    with outbound.client(headers=headers, timeout=timeout, auth=auth) as client:
        if connector.kind == Connector.Kind.ALARMS:
            pull_alarm_pages(connector, run, lambda url: _parse_json(url, _get(client, url, run)), PullError)
            return
        if connector.preset != Connector.Preset.GENERIC:
            _pull_preset(connector, run, client)
            return
        while url:
            visited.add(url)
            before = connector.cursor
            payload = _get_page(client, url, run)
            _store_page(connector, run, payload["results"])
            following = payload["next"]
            if not following:
                return
            following = urljoin(url, following)  # "/api/tickets?page=2" or "?page=2" is this server's
            _check_next(connector.base_url, following, visited)
            # As the presets do: restart the window at the newest update stored. Following "next"
            # (page n+1 of the old window) would skip the item that slid into page n when one read
            # before it changed meanwhile; restarted, the changed one is read again behind it.
            # Only a page wholly at the cursor's time follows "next" within that time.
            if connector.cursor != before:
                following = _first_page_url(connector.base_url, connector.cursor)
            url = following


def _first_page_url(base_url: str, cursor: str) -> str:
    parts = urlsplit(base_url)
    params = [("updated_since", cursor)] if cursor else []
    params.append(("page", "1"))
    query = "&".join(filter(None, [parts.query, urlencode(params)]))
    return urlunsplit(parts._replace(query=query))


def _check_next(base_url: str, next_url: str, visited: set[str]) -> None:
    base, following = urlsplit(base_url), urlsplit(next_url)
    if (following.scheme, following.netloc) != (base.scheme, base.netloc):
        raise PullError(f"refusing to follow 'next' to another origin: {next_url[:200]}")
    if next_url in visited:
        raise PullError(f"'next' points back to a page already read: {next_url[:200]}")


def _pull_preset(connector: Connector, run: ConnectorRun, client: httpx.Client) -> None:
    """Page through a preset's window; restart it at the newest update stored after each page.

    Restarting (offset 0) re-reads the items of that newest time, which come back unchanged, and
    sees an item that changed since the last request behind the window instead of skipping the one
    that slid into its place. Only a page that lies wholly in one time step moves the offset on.
    A remote that pages by token (Jira Cloud) is restarted the same way; its token, which belongs to
    the search it came from, is followed only where the offset would move on.
    """
    preset = presets.PRESETS[connector.preset]
    url = preset.url(connector.base_url)
    overrides = connector.field_mapping if isinstance(connector.field_mapping, dict) else {}
    since = presets.cursor_time(connector.cursor) if connector.cursor else None
    offset, limit, token, tokens = 0, connector.page_size, None, set()
    while True:
        page_url = preset.request(
            url, connector.query, since, offset, limit, overrides=overrides, token=token
        )
        response = _get(client, page_url, run, hints=preset.hints)
        try:
            page = preset.page(_parse_json(page_url, response), response.headers, offset, limit)
        except ValueError as e:  # not the preset's shape
            raise PullError(f"GET {page_url[:200]} {e}") from None
        times = _store_page(connector, run, page.items, preset=preset)
        if not page.more:
            return
        steps = {preset.floor(t) for t in times}
        newest = max(steps) if steps else None
        restart = newest is not None and (since is None or newest > preset.floor(since))
        if page.token is not None and (not restart or steps == {newest}):
            if page.token in tokens:
                raise PullError(f"GET {page_url[:200]} answered a page token it gave before")
            tokens.add(page.token)
            token = page.token  # the same search's next page
        elif restart:
            since, offset, token = newest, (len(page.items) if steps == {newest} else 0), None
        else:
            offset += len(page.items)


def _get_page(client: httpx.Client, url: str, run: ConnectorRun) -> dict:
    return _parse_page(url, _get(client, url, run))


def _get(
    client: httpx.Client, url: str, run: ConnectorRun, *, hints: dict[int, str] | None = None
) -> httpx.Response:
    """GET with retries of connection errors, timeouts, 429 and 5xx; the 200 answer or PullError
    (saying what the status most likely means, where ``hints`` knows)."""
    max_retries = settings.TICKETAI_CONNECTOR_MAX_RETRIES
    attempt = 0
    while True:
        retry_after = None
        try:
            response = remote_answers.fetch(client, url)
        except connector_auth.TokenError as e:
            raise PullError(f"no access token: {e}") from None
        except remote_answers.TooLarge as e:
            raise PullError(str(e)) from None
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as e:
            reason = f"{type(e).__name__}: {e}"
        else:
            if response.status_code in _RETRY_STATUSES:
                reason = f"HTTP {response.status_code}"
                retry_after = _retry_after(response.headers.get("Retry-After"))
                if retry_after is not None and retry_after > MAX_RETRY_AFTER_S:
                    raise PullError(
                        f"GET {url} answered {reason} with Retry-After {retry_after:.0f} s, more than "
                        f"{MAX_RETRY_AFTER_S:.0f}: the pull stops, and a scheduled one resumes after the wait"
                    )
            elif response.status_code != 200:
                hint = (hints or {}).get(response.status_code) or remote_answers.hint(response)
                answered = f"GET {url} answered {outbound.describe_response(response)}"
                raise PullError(f"{answered}: {hint}" if hint else answered)
            else:
                return response
        if attempt == max_retries:
            raise PullError(f"GET {url} failed after {attempt + 1} attempts; last error: {reason}")
        delay = retry_after if retry_after is not None else settings.TICKETAI_CONNECTOR_BACKOFF_S * 2**attempt
        logger.info("connector GET %s: %s; retry %d in %.2fs", url, reason, attempt + 1, delay)
        run.retries += 1
        attempt += 1
        time.sleep(delay)


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date); None if absent or bad."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(seconds, 0.0)


def _parse_json(url: str, response: httpx.Response):
    try:
        return response.json()
    except ValueError:
        # Most often a sign-in, maintenance or hibernation page served with 200, or a wrong base_url.
        raise PullError(
            f"GET {url} answered {outbound.describe_response(response)}, which is not JSON: "
            "a sign-in or maintenance page, or base_url is not the API"
        ) from None


def _parse_page(url: str, response: httpx.Response) -> dict:
    payload = _parse_json(url, response)
    if (
        not isinstance(payload, dict)
        or not isinstance(payload.get("results"), list)
        or not isinstance(payload.get("next"), str | None)
    ):
        raise PullError(f'GET {url} did not return {{"results": [...], "next": URL or null}}')
    return payload


def _store_page(
    connector: Connector, run: ConnectorRun, items: list, *, preset: presets.Preset = presets.GENERIC
) -> list[datetime]:
    """Write one page and move the cursor, in one transaction; returns the items' update times."""
    fields = REPAIR_FIELDS if connector.kind == Connector.Kind.REPAIRS else TICKET_FIELDS
    mapping = connector.field_mapping or {}
    times: list[datetime] = []
    documents: list[dict] = []
    positions: list[int] = []
    results: list[ItemResult] = []
    newest = presets.cursor_time(connector.cursor) if connector.cursor else None
    for index, item in enumerate(items):
        try:
            document, updated_at = preset.document(item, mapping, tuple(fields))
        except ValueError as e:
            key = "rma_id" if connector.kind == Connector.Kind.REPAIRS else "external_id"
            remote_key = mapping.get(key, preset.mapping.get(key, key))
            external_id = presets.remote_value(item, remote_key) if isinstance(item, dict) else None
            external_id = (
                None if external_id in (None, presets.MISSING) else printable(str(external_id))[:200]
            )
            results.append(ItemResult(index, external_id, "rejected", errors=e.args[0]))
            continue
        if connector.kind == Connector.Kind.TICKETS:
            document["source"] = connector.name
        documents.append(document)
        positions.append(index)
        times.append(updated_at)
        newest = updated_at if newest is None else max(newest, updated_at)

    with transaction.atomic():
        for result in connector_upsert(connector, documents):
            result.index = positions[result.index]
            results.append(result)
        for result in sorted(results, key=lambda r: r.index):
            setattr(run, result.status, getattr(run, result.status) + 1)
            if result.status == "rejected" and len(run.rejects) < MAX_REJECTS_KEPT:
                run.rejects.append({"page": run.pages + 1, **result.to_json()})
        run.pages += 1
        if newest is not None:
            run.cursor_after = presets.cursor_text(cursor_ceiling(run, newest).astimezone(newest.tzinfo))
            connector.cursor = run.cursor_after
            Connector.objects.filter(pk=connector.pk).update(cursor=connector.cursor)
        run.save()
    return times


def cursor_ceiling(run: ConnectorRun, newest: datetime) -> datetime:
    """The cursor to store for the newest update time read: never past when the pull started.

    An item dated in the future (a remote clock ahead of ours, a mistyped year) would otherwise carry
    the cursor there, and every later pull would ask only for what changes after that date. Kept at
    the pull's start, what the remote dates later is read again next time, as unchanged.
    """
    return min(newest, run.started_at)


def connector_upsert(connector: Connector, documents: Sequence[dict]) -> list[ItemResult]:
    """Write documents read from the connector's system, as its pull does (and its listener)."""
    if not documents:
        return []
    if connector.kind == Connector.Kind.REPAIRS:
        return repairs_upsert(rows=documents)
    return tickets_upsert(documents=documents, source=connector.name, create_missing=connector.create_missing)


def connector_pull_enqueue(connector: Connector) -> None:
    """Queue a pull of this connector once the current transaction commits ("Pull now")."""
    # Imported here: the tasks module imports this one.
    from repair_center.tasks import pull_connector as task

    connector_id = connector.pk
    transaction.on_commit(lambda: task.delay(connector_id))
