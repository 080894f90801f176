"""Writes a simulation as the project's import files, streaming tickets so memory stays flat."""

import csv
import json
from pathlib import Path

from repair_center.simulator.catalogue import aliases, error_codes, resolutions
from repair_center.simulator.generator import SimulationConfig, TicketGenerator

REPAIR_COLUMNS = (
    "rma_id",
    "unit_kind",
    "unit_serial",
    "ticket_source",
    "ticket_external_id",
    "reported_fault_code",
    "finding",
    "repair_action",
    "received_on",
    "closed_on",
)
CATALOGUE_FILES = (
    "sites.csv",
    "elements.csv",
    "error_codes.csv",
    "error_code_aliases.csv",
    "resolutions.csv",
)
OUTPUT_FILES = (*CATALOGUE_FILES, "tickets.jsonl", "repairs.csv", "truth.jsonl")


def _csv(path: Path, header, rows) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def write_catalogue(generator: TicketGenerator, out: Path) -> None:
    world, drift = generator.world, generator.config.drift is not None
    _csv(
        out / "sites.csv",
        ("code", "name", "region", "climate", "tier", "latitude", "longitude", "address", "access_notes"),
        (
            (
                s.code,
                s.name,
                s.region,
                s.climate,
                s.tier,
                f"{s.latitude:.5f}",
                f"{s.longitude:.5f}",
                s.address,
                s.access_notes,
            )
            for s in world.sites
        ),
    )
    _csv(
        out / "elements.csv",
        ("serial", "site", "name", "kind", "vendor", "model", "software_version", "installed_on"),
        (
            (
                e.serial,
                e.site,
                e.name,
                e.kind,
                e.vendor,
                e.model,
                e.software_version,
                e.installed_on.isoformat(),
            )
            for e in world.elements
        ),
    )
    _csv(
        out / "error_codes.csv",
        ("code", "domain", "severity", "description", "recommended_checks"),
        error_codes(drift=drift),
    )
    _csv(
        out / "error_code_aliases.csv",
        ("vendor", "raw_code", "code"),
        sorted((vendor, raw, code) for (vendor, code), raw in aliases(drift=drift).items()),
    )
    _csv(
        out / "resolutions.csv",
        ("code", "title", "steps", "needs_site_visit", "typical_duration_minutes"),
        (
            (code, title, steps, "true" if visit else "false", minutes)
            for code, title, steps, visit, minutes, _ in resolutions(drift=drift)
        ),
    )


def write_simulation(config: SimulationConfig, out: str | Path, *, progress=None) -> dict[str, int]:
    """Write every output file into ``out``; returns counts. Same config, same bytes."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    generator = TicketGenerator(config)
    write_catalogue(generator, out)
    counts = {"tickets": 0, "repairs": 0, "label_noise": 0, "sites": len(generator.world.sites)}
    counts["elements"] = len(generator.world.elements)
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    with (
        (out / "tickets.jsonl").open("w", encoding="utf-8", newline="\n") as tickets,
        (out / "truth.jsonl").open("w", encoding="utf-8", newline="\n") as truth_file,
        (out / "repairs.csv").open("w", encoding="utf-8", newline="") as repairs_file,
    ):
        repairs = csv.writer(repairs_file, lineterminator="\n")
        repairs.writerow(REPAIR_COLUMNS)
        for doc, truth, repair in generator:
            tickets.write(dumps(doc))
            tickets.write("\n")
            truth_file.write(dumps(truth))
            truth_file.write("\n")
            counts["tickets"] += 1
            counts["label_noise"] += truth["label_noise"]
            if repair is not None:
                repairs.writerow([repair[c] for c in REPAIR_COLUMNS])
                counts["repairs"] += 1
            if progress is not None and counts["tickets"] % 10_000 == 0:
                progress(counts["tickets"])
    return counts
