import logging

from django.apps import AppConfig

logger = logging.getLogger(__name__)
RECOMMEND_BATCH = 200


class MlConfig(AppConfig):
    name = "ml"
    verbose_name = "Machine learning"

    def ready(self):
        from celery.signals import worker_ready

        from ml import worker
        from repair_center.signals import resolution_merged, ticket_workflow_changed, tickets_changed

        tickets_changed.connect(enqueue_recommendations, dispatch_uid="ml.enqueue_recommendations")
        ticket_workflow_changed.connect(carry_recommendations, dispatch_uid="ml.carry_recommendations")
        tickets_changed.connect(announce_changed_tickets, dispatch_uid="ml.tmf_announce_changed")
        ticket_workflow_changed.connect(announce_worked_tickets, dispatch_uid="ml.tmf_announce_worked")
        resolution_merged.connect(repoint_feedback, dispatch_uid="ml.repoint_feedback")
        from ml.serving.tmf_events import recommendation_notes
        from repair_center.tmf.troubleticket import ticket_notes

        ticket_notes.connect(recommendation_notes, dispatch_uid="ml.tmf_recommendation_notes")
        # Only worker processes send worker_ready; the web process connects it and never hears it.
        worker_ready.connect(worker.recover_on_worker_ready, dispatch_uid="ml.recover_on_worker_ready")


def enqueue_recommendations(sender, ticket_ids, **kwargs):
    """New or changed tickets get a recommendation in the background, when a champion exists."""
    from ml.models import ModelVersion
    from ticketai.broker import enqueue

    if not ModelVersion.objects.filter(status=ModelVersion.Status.CHAMPION).exists():
        return
    ids = sorted(set(ticket_ids))
    try:
        for start in range(0, len(ids), RECOMMEND_BATCH):
            enqueue("ml.tasks.recommend_tickets", ids[start : start + RECOMMEND_BATCH])
    except Exception:  # the ingest has committed; a broker outage must not turn it into an error
        logger.exception("could not enqueue recommendations for %s tickets", len(ids))


def carry_recommendations(sender, revisions, **kwargs):
    """A status action, assignment or note changed the revision, not what the model reads: the
    recommendation of the old revision is the answer for the new one."""
    from ml.serving.recommendations import carry_forward

    try:
        carry_forward(revisions)
    except Exception:  # the change has committed; a missing copy is recomputed when next asked
        logger.exception("could not carry recommendations over for tickets %s", sorted(revisions))


def announce_changed_tickets(sender, ticket_ids, **kwargs):
    """TMF621 hubs hear of tickets created or updated by their source."""
    from ml.serving.tmf_events import tmf_announce_changed

    try:
        tmf_announce_changed(ticket_ids)
    except Exception:  # the change has committed; a lost notification must not turn it into an error
        logger.exception("could not notify TMF621 hubs of tickets %s", sorted(set(ticket_ids))[:20])


def announce_worked_tickets(sender, revisions, **kwargs):
    """TMF621 hubs hear of status actions, notes, assignment and labels."""
    from ml.serving.tmf_events import tmf_announce_worked

    try:
        tmf_announce_worked(revisions)
    except Exception:  # as above
        logger.exception("could not notify TMF621 hubs of tickets %s", sorted(revisions)[:20])


def repoint_feedback(sender, source, target, **kwargs):
    """Feedback that chose a resolution merged away chose the one it was merged into; open tickets
    whose recommendation lists the old code are answered again, once the merge has committed."""
    from django.db import transaction

    from ml.models import Feedback
    from ticketai.broker import enqueue

    Feedback.objects.filter(chosen_resolution=source).update(chosen_resolution=target)
    code = source.code  # the row is deleted before the merge commits
    # Robust: a broker outage is logged, not raised from a merge that has committed.
    transaction.on_commit(lambda: enqueue("ml.tasks.refresh_recommendations_listing", code), robust=True)
