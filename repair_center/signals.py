"""Signals repair_center sends; other apps connect to them (repair_center imports none of them)."""

from django.dispatch import Signal

# Sent after the transaction that created or changed tickets commits, with ticket_ids=[...].
tickets_changed = Signal()

# Sent after a change that leaves the ticket's content as the model reads it alone (status action,
# assignment, work note, resolution label) commits, with revisions={ticket_id: (old, new)}.
ticket_workflow_changed = Signal()

# Sent inside the transaction that merges the resolution code ``source`` into ``target``, before
# ``source`` is deleted: whatever points at it must point at ``target`` by then.
resolution_merged = Signal()
