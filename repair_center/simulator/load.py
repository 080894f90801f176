"""Loading a written simulation into the database through the project's own importers (never around them)."""

from pathlib import Path


def load_simulation(directory: str | Path, *, source: str = "sim", progress=None) -> dict:
    """Import the catalogue, tickets and repair records in ``directory``; returns ImportReports by file.

    truth.jsonl is never imported: it is the answer key for evaluation, not a feature.
    """
    # Imported here so the simulator itself stays usable without Django (benchmarks, notebooks).
    from repair_center.ingestion.catalogue import import_catalogue_dir
    from repair_center.ingestion.files import import_repairs_file, import_tickets_file

    directory = Path(directory)
    reports = dict(import_catalogue_dir(directory))
    reports["tickets.jsonl"] = import_tickets_file(
        directory / "tickets.jsonl", source=source, progress=progress
    )
    reports["repairs.csv"] = import_repairs_file(directory / "repairs.csv")
    return reports
