"""The real export slices in tests/data/real (provenance in its README) and how they import."""

from pathlib import Path

REAL = Path(__file__).parent / "data" / "real"
INCIDENT_LOG_MAP = [
    "--map",
    "external_id=number",
    "--map",
    "event.kind=incident_state",
    "--map",
    "event.attrs.reassignments=reassignment_count",
    "--map",
    "resolution=closed_code",
    "--map",
    "attributes.category=category",
    "--map",
    "attributes.subcategory=subcategory",
    "--map",
    "attributes.symptom=u_symptom",
    "--map",
    "attributes.group=assignment_group",
    "--map",
    "attributes.location=location",
    "--map",
    "attributes.priority=priority",
    # Its dates are dd-mm-yyyy: read from no column here, so the tickets carry no times at all.
    "--map",
    "opened_at=",
    "--map",
    "resolved_at=",
]
