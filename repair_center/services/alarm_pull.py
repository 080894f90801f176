"""Pulling alarms from a TMF642 Alarm Management API (Connector kind "tmf642-alarms").

The remote contract is TMF642's own: ``GET base_url?alarmChangedTime.gt=<ISO 8601>&offset=&limit=``
answers a JSON array of Alarm resources, ordered by alarmChangedTime ascending. Paging is by key,
not by offset alone: each next page asks for alarms changed after the newest one read (offset
pages only through a run of equal times), so an alarm that changes during the pull moves to the
end of the list instead of shifting one the pull has not read into a page it has. The query
starts a millisecond before the cursor, because alarms changed in the same instant may span two
pages; re-read alarms come back "unchanged". Each page is written and the cursor moved in one
transaction, so a pull that dies resumes from the last page it committed.
"""

from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.db import transaction

from repair_center.alarm_documents import keyed_by_id
from repair_center.documents import parse_timestamp
from repair_center.models import Connector, ConnectorRun
from repair_center.services.alarms import alarms_upsert

PAGE_LIMIT = 500
OVERLAP = timedelta(milliseconds=1)


def pull_alarm_pages(connector: Connector, run: ConnectorRun, get_json, pull_error) -> None:
    """Read every page changed since the connector's cursor; ``get_json(url)`` fetches with retries."""
    since = parse_timestamp(connector.cursor) if connector.cursor else None
    offset = 0
    while True:
        url = _page_url(connector, since, offset)
        page = get_json(url)
        if not isinstance(page, list):
            raise pull_error(f"GET {url} did not return a JSON array of alarms")
        newest = _store_page(connector, run, page, since)
        if len(page) < PAGE_LIMIT:
            return
        if newest is None or (since is not None and newest <= since):
            offset += PAGE_LIMIT  # a full page of one instant: page through it by offset
        else:
            since, offset = newest, 0


def _page_url(connector: Connector, since: datetime | None, offset: int) -> str:
    parts = urlsplit(connector.base_url)
    # The connector's query (TMF642 filters such as perceivedSeverity=critical,major) narrows the list.
    params = parse_qsl(connector.query.strip().lstrip("?"), keep_blank_values=True)
    if since is not None:
        params.append(("alarmChangedTime.gt", _iso(since - OVERLAP)))
    params += [("offset", str(offset)), ("limit", str(PAGE_LIMIT))]
    return urlunsplit(parts._replace(query="&".join(filter(None, [parts.query, urlencode(params)]))))


def _changed(item) -> datetime | None:
    if not isinstance(item, dict):
        return None
    for name in ("alarmChangedTime", "alarmClearedTime", "alarmRaisedTime"):
        try:
            return parse_timestamp(item[name])
        except (KeyError, ValueError):
            continue
    return None


def _keyed(item, system: str):
    """A remote Alarm resource without an externalAlarmId is keyed by its ``id`` on that server:
    the id the server's own AlarmRefs (parentAlarm, correlatedAlarm) and later changes name it by.
    One without a sourceSystemId is the connector's system's (``system``, the connector's name)."""
    if not isinstance(item, dict):
        return item
    keyed = keyed_by_id(item)
    if not keyed.get("sourceSystemId"):
        keyed["sourceSystemId"] = system
    return keyed


def _store_page(connector: Connector, run: ConnectorRun, page: list, since: datetime | None):
    times = [t for t in map(_changed, page) if t is not None]
    newest = max(times) if times else None
    with transaction.atomic():
        for result in alarms_upsert(documents=[_keyed(item, connector.name) for item in page]):
            setattr(run, result.status, getattr(run, result.status) + 1)
            if result.status == "rejected" and len(run.rejects) < 100:
                run.rejects.append({"page": run.pages + 1, **result.to_json()})
        run.pages += 1
        # The cursor is the newest time every alarm before which has been read.
        if newest is not None and (since is None or newest > since):
            # Never past the pull's start (connectors.cursor_ceiling): an element's clock running ahead
            # must not make later pulls skip what changes meanwhile.
            run.cursor_after = _iso(min(newest, run.started_at))
            Connector.objects.filter(pk=connector.pk).update(cursor=run.cursor_after)
            connector.cursor = run.cursor_after
        run.save()
    return newest


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")
