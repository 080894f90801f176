"""Signals repair_center sends; other apps connect to them (repair_center imports none of them)."""

from django.dispatch import Signal

# Sent after the transaction that created or changed tickets commits, with ticket_ids=[...].
tickets_changed = Signal()
