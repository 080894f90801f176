"""Celery tasks of repair_center: thin wrappers that take ids and call services."""

import logging

from celery import shared_task

from repair_center.models import Connector
from repair_center.services import alarm_refs, alarms, connectors, correlation, grouping

logger = logging.getLogger(__name__)


@shared_task(name="repair_center.tasks.pull_connector")
def pull_connector(connector_id: int) -> dict:
    """Pull one connector's new and changed items; safe to run twice (a second one is skipped)."""
    try:
        run = connectors.pull_connector(connector_id)
    except Connector.DoesNotExist:
        removed = connectors.connector_schedule_remove_orphan(connector_id)
        logger.warning("connector #%s no longer exists; removed %d beat task(s)", connector_id, removed)
        return {"connector": connector_id, "skipped": "the connector no longer exists"}
    except (connectors.ConnectorBusy, connectors.ConnectorDisabled) as e:
        logger.info("%s", e)
        return {"connector": connector_id, "skipped": str(e)}
    return {
        "connector": connector_id,
        "run": run.pk,
        "status": run.status,
        "pages": run.pages,
        "created": run.created,
        "updated": run.updated,
        "unchanged": run.unchanged,
        "rejected": run.rejected,
        "retries": run.retries,
        "cursor": run.cursor_after,
        "error": run.error,
    }


@shared_task(name="repair_center.tasks.expire_alarms")
def expire_alarms() -> dict:
    """Delete alarms older than TICKETAI_ALARM_RETENTION_DAYS, and the groups left empty (hourly)."""
    return {"deleted": alarms.alarms_expire(), "groups_deleted": grouping.expire_groups()}


@shared_task(name="repair_center.tasks.correlate_alarms")
def correlate_alarms(alarm_ids: list[int]) -> dict:
    """Give the tickets these alarms touch, and those naming them, their new events; idempotent (an
    unchanged one is skipped)."""
    touched = sorted(set(correlation.tickets_touched(alarm_ids)) | set(alarm_refs.claim(alarm_ids)))
    changed = correlation.recorrelate(touched)
    return {"alarms": len(alarm_ids), "tickets": len(touched), "changed": len(changed)}


@shared_task(name="repair_center.tasks.claim_named_alarms")
def claim_named_alarms(ticket_ids: list[int]) -> dict:
    """After a ticket write: give its names that found no alarm the alarms stored meanwhile."""
    changed = correlation.recorrelate(alarm_refs.claim_for(ticket_ids))
    return {"tickets": len(ticket_ids), "changed": len(changed)}


@shared_task(name="repair_center.tasks.group_alarms")
def group_alarms(alarm_ids: list[int]) -> dict:
    """Put new alarms into incident groups, update the groups of changed ones, and open the tickets rules
    ask for; idempotent."""
    return {"alarms": len(alarm_ids), "groups": len(grouping.group_alarms(alarm_ids))}
