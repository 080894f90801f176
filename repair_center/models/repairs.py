from django.db import models

from repair_center.models.tickets import Ticket


class RepairRecord(models.Model):
    """What the repair centre found on a returned unit; reveals hardware swaps that fixed nothing."""

    class Finding(models.TextChoices):
        CONFIRMED_FAULT = "confirmed_fault", "Confirmed fault"
        NO_FAULT_FOUND = "no_fault_found", "No fault found"
        PHYSICAL_DAMAGE = "physical_damage", "Physical damage"
        PENDING = "pending", "Pending analysis"

    rma_id = models.CharField(max_length=64, unique=True)
    unit_kind = models.CharField(max_length=32, blank=True)
    unit_serial = models.CharField(max_length=120, blank=True, db_index=True)
    ticket = models.ForeignKey(
        Ticket, null=True, blank=True, on_delete=models.SET_NULL, related_name="repair_records"
    )
    ticket_source = models.CharField(max_length=64, blank=True)
    ticket_external_id = models.CharField(max_length=200, blank=True)
    reported_fault_code = models.CharField(max_length=64, blank=True)
    finding = models.CharField(max_length=20, choices=Finding.choices, default=Finding.PENDING)
    repair_action = models.CharField(max_length=200, blank=True)
    received_on = models.DateField(null=True, blank=True)
    closed_on = models.DateField(null=True, blank=True)
    content_hash = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["-received_on", "-id"]
        indexes = [models.Index(fields=["ticket_source", "ticket_external_id"])]

    def __str__(self) -> str:
        return self.rma_id
