import csv
import json
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from repair_center.documents import parse_ticket
from repair_center.models import (
    ErrorCode,
    NetworkElement,
    RepairRecord,
    ResolutionCode,
    Site,
    Ticket,
    TicketErrorCode,
    TicketEvent,
    UnmappedCode,
)
from repair_center.simulator import SimulationConfig, write_simulation
from repair_center.simulator.writer import OUTPUT_FILES

CONTRACT_HEADERS = {
    "sites.csv": "code,name,region,climate,tier,latitude,longitude,address,access_notes",
    "elements.csv": "serial,site,name,kind,vendor,model,software_version,installed_on",
    "error_codes.csv": "code,domain,severity,description,recommended_checks",
    "error_code_aliases.csv": "vendor,raw_code,code",
    "resolutions.csv": "code,title,steps,needs_site_visit,typical_duration_minutes",
    "repairs.csv": "rma_id,unit_kind,unit_serial,ticket_source,ticket_external_id,reported_fault_code,"
    "finding,repair_action,received_on,closed_on",
}


def _rows(directory: Path, name: str) -> list[dict]:
    with (directory / name).open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _jsonl(directory: Path, name: str) -> list[dict]:
    with (directory / name).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def simulation(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    write_simulation(SimulationConfig(tickets=2500, seed=11), out)
    return out


def test_the_same_seed_writes_the_same_bytes_and_another_seed_does_not(tmp_path):
    for name in ("a", "b", "c"):
        write_simulation(SimulationConfig(tickets=400, seed=5 if name != "c" else 6), tmp_path / name)
    for file_name in OUTPUT_FILES:
        assert (tmp_path / "a" / file_name).read_bytes() == (tmp_path / "b" / file_name).read_bytes(), (
            file_name
        )
    assert (tmp_path / "a" / "tickets.jsonl").read_bytes() != (tmp_path / "c" / "tickets.jsonl").read_bytes()


def test_every_file_has_the_agreed_header_and_newlines(simulation):
    for name, header in CONTRACT_HEADERS.items():
        raw = (simulation / name).read_bytes()
        assert raw.split(b"\n", 1)[0].decode() == header, name
        assert b"\r\n" not in raw, name


def test_every_ticket_is_a_valid_canonical_document_naming_known_catalogue_rows(simulation):
    sites = {row["code"] for row in _rows(simulation, "sites.csv")}
    elements = {row["serial"] for row in _rows(simulation, "elements.csv")}
    resolutions = {row["code"] for row in _rows(simulation, "resolutions.csv")}
    tickets = _jsonl(simulation, "tickets.jsonl")
    truths = _jsonl(simulation, "truth.jsonl")
    assert len(tickets) == len(truths) == 2500
    for doc, truth in zip(tickets, truths, strict=True):
        parsed = parse_ticket(doc)
        assert parsed.to_json() == doc
        assert doc["site"] in sites and doc["element"] in elements
        assert doc["resolution"] is None or doc["resolution"] in resolutions
        assert truth["external_id"] == doc["external_id"]
        assert truth["correct_resolution"] in resolutions
    opened = [doc["opened_at"] for doc in tickets]
    assert opened == sorted(opened)
    empty = sum(1 for doc in tickets if not doc["description"])
    assert 0.07 < empty / len(tickets) < 0.2


def test_catalogue_values_fit_the_models_and_the_issue(simulation):
    codes = _rows(simulation, "error_codes.csv")
    resolutions = _rows(simulation, "resolutions.csv")
    sites = _rows(simulation, "sites.csv")
    elements = _rows(simulation, "elements.csv")
    assert len(codes) >= 40 and len(resolutions) >= 20
    assert {row["domain"] for row in codes} == {
        "ran",
        "transport",
        "power",
        "environment",
        "sync",
        "software",
    }
    assert {row["severity"] for row in codes} <= set(ErrorCode.Severity.values)
    assert {row["tier"] for row in sites} == set(Site.Tier.values)
    assert {row["climate"] for row in sites} == {"coastal", "hot", "cold", "urban"}
    assert {row["kind"] for row in elements} <= set(NetworkElement.Kind.values)
    assert {row["vendor"] for row in elements} == {"nordlink", "veltra"}
    assert {row["needs_site_visit"] for row in resolutions} == {"true", "false"}
    # Every site tells a field engineer where it is and how to get in.
    assert all(row["address"] and row["access_notes"] for row in sites)
    assert len({row["access_notes"] for row in sites if row["tier"] == "cell-site"}) > 1
    findings = Counter(row["finding"] for row in _rows(simulation, "repairs.csv"))
    assert set(findings) <= set(RepairRecord.Finding.values)


def test_the_two_vendors_raise_different_raw_codes_that_alias_to_the_same_condition(simulation):
    aliases = _rows(simulation, "error_code_aliases.csv")
    curated = {row["code"] for row in _rows(simulation, "error_codes.csv")}
    by_code = defaultdict(dict)
    for row in aliases:
        by_code[row["code"]][row["vendor"]] = row["raw_code"]
    assert set(by_code) == curated
    for code, raw in by_code.items():
        assert raw["nordlink"] != raw["veltra"], code
        assert raw["nordlink"] not in curated and raw["veltra"] not in curated
    mapping = {(row["vendor"], row["raw_code"]): row["code"] for row in aliases}
    vendor_of = {row["serial"]: row["vendor"] for row in _rows(simulation, "elements.csv")}
    seen_vendors, curated_tickets = set(), 0
    for doc in _jsonl(simulation, "tickets.jsonl"):
        vendor = vendor_of[doc["element"]]
        codes = doc["error_codes"] + [e["code"] for e in doc["events"] if e["code"]]
        raw = [c for c in codes if c not in curated]
        assert all((vendor, c) in mapping for c in raw), doc["external_id"]
        seen_vendors.add(vendor) if raw else None
        curated_tickets += not raw
    assert seen_vendors == {"nordlink", "veltra"}
    assert 0 < curated_tickets < 2500 * 0.25  # a minority of sources send normalised codes


def test_one_first_alarm_comes_from_several_root_causes(simulation):
    aliases = {row["raw_code"]: row["code"] for row in _rows(simulation, "error_code_aliases.csv")}
    causes = defaultdict(set)
    for doc, truth in zip(
        _jsonl(simulation, "tickets.jsonl"), _jsonl(simulation, "truth.jsonl"), strict=True
    ):
        first = doc["error_codes"][0]
        causes[aliases.get(first, first)].add(truth["root_cause"])
    assert {"RU_HW_FAULT", "FIBRE_DIRTY", "SFP_FAILED", "BB_SW_CRASH"} <= causes["CPRI_LINK_DOWN"]
    assert sum(1 for found in causes.values() if len(found) >= 4) >= 5


def test_label_noise_is_a_few_percent_and_wrong_swaps_mostly_come_back_no_fault_found(simulation):
    truths = {t["external_id"]: t for t in _jsonl(simulation, "truth.jsonl")}
    labelled = [t for t in truths.values() if t["recorded_resolution"]]
    noisy = [t for t in labelled if t["recorded_resolution"] != t["correct_resolution"]]
    assert 0.025 < len(noisy) / len(labelled) < 0.06
    assert all(t["label_noise"] for t in noisy)
    findings = defaultdict(Counter)
    for row in _rows(simulation, "repairs.csv"):
        truth = truths[row["ticket_external_id"]]
        assert truth["recorded_resolution"].startswith("REPLACE_")
        wrong = truth["recorded_resolution"] != truth["correct_resolution"]
        findings[wrong][row["finding"]] += 1
    assert findings[True]["no_fault_found"] > 0.6 * sum(findings[True].values())
    assert findings[False]["no_fault_found"] < 0.1 * sum(findings[False].values())


def test_regions_have_their_own_failure_modes_and_repeat_offenders_exist(simulation):
    by_climate = defaultdict(Counter)
    for truth in _jsonl(simulation, "truth.jsonl"):
        by_climate[truth["climate"]][truth["root_cause"]] += 1

    def share(climate, cause):
        return by_climate[climate][cause] / sum(by_climate[climate].values())

    assert share("coastal", "FEEDER_CORROSION") > 3 * share("urban", "FEEDER_CORROSION")
    assert share("hot", "COOLING_OVERLOAD") > 3 * share("cold", "COOLING_OVERLOAD")
    assert share("cold", "GNSS_ANTENNA") > 2 * share("hot", "GNSS_ANTENNA")
    repeats = [t for t in _jsonl(simulation, "truth.jsonl") if t["repeat_of"]]
    assert len(repeats) > 25


def test_drift_brings_a_new_code_and_fix_only_after_its_date(tmp_path):
    drift = date(2025, 7, 1)
    write_simulation(SimulationConfig(tickets=3000, seed=4, drift=drift), tmp_path / "drift")
    write_simulation(SimulationConfig(tickets=3000, seed=4), tmp_path / "plain")
    aliases = {row["raw_code"]: row["code"] for row in _rows(tmp_path / "drift", "error_code_aliases.csv")}
    with_new = [
        doc
        for doc in _jsonl(tmp_path / "drift", "tickets.jsonl")
        if doc["resolution"] == "APPLY_HOTFIX"
        or "CELL_SETUP_TIMEOUT" in {aliases.get(c, c) for c in doc["error_codes"]}
    ]
    assert len(with_new) > 30
    assert all(doc["opened_at"] >= drift.isoformat() for doc in with_new)
    new_codes = {row["code"] for row in _rows(tmp_path / "drift", "error_codes.csv")}
    assert "CELL_SETUP_TIMEOUT" in new_codes
    plain = (tmp_path / "plain" / "tickets.jsonl").read_text()
    assert "APPLY_HOTFIX" not in plain
    assert "CELL_SETUP_TIMEOUT" not in (tmp_path / "plain" / "error_codes.csv").read_text()
    drifted = [t for t in _jsonl(tmp_path / "drift", "truth.jsonl") if t["drifted"]]
    leak_share = [
        sum(t["root_cause"] == "MEMORY_LEAK" for t in group) / len(group)
        for group in (drifted, [t for t in _jsonl(tmp_path / "plain", "truth.jsonl")])
    ]
    assert leak_share[0] < leak_share[1]  # the new release also fixes the old leak: the mix shifts


def test_simulate_load_imports_everything_through_the_importers_without_rejects(db, tmp_path, capsys):
    out = tmp_path / "sim"
    call_command(
        "simulate", "--tickets", "300", "--seed", "2", "--out", str(out), "--load", "--drift", "2025-06-01"
    )
    printed = capsys.readouterr().out
    assert "rejected 0" in printed and "rejected 1" not in printed
    assert Ticket.objects.filter(source="sim").count() == 300
    assert ResolutionCode.objects.filter(code="APPLY_HOTFIX").exists()
    assert not UnmappedCode.objects.exists()
    assert not TicketErrorCode.objects.filter(error_code__isnull=True).exists()
    assert not TicketEvent.objects.exclude(raw_code="").filter(error_code__isnull=True).exists()
    repairs = RepairRecord.objects.all()
    assert repairs.exists() and not repairs.filter(ticket__isnull=True).exists()

    call_command(
        "simulate", "--tickets", "300", "--seed", "2", "--out", str(out), "--load", "--drift", "2025-06-01"
    )
    assert "tickets.jsonl: created 0, updated 0, unchanged 300, rejected 0" in capsys.readouterr().out


def test_simulate_refuses_a_drift_date_before_the_start(tmp_path):
    with pytest.raises(CommandError, match="--drift must be after --start"):
        call_command("simulate", "--tickets", "10", "--out", str(tmp_path), "--drift", "2024-01-01")
