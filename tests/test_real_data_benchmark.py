"""benchmarks.real_data: the real user path (import_tickets -> train -> predict) and the baselines
on a small slice of the real exports, in the documented JSON shape; and event logs split by ticket."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import real_data
from tests.factories import tiny_encoder_dir

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT / "benchmarks" / "data" / "real"


def test_an_event_log_is_split_by_ticket_and_its_baseline_reads_what_the_importer_maps(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text(
        "number,state,category,u_symptom,closed_code,opened_at\n"
        "INC1,New,Cat 1,?,?,29-02-2016 01:16\n"
        "INC1,Resolved,Cat 9,Sym 4,code 2,29-02-2016 01:16\n"
        "INC2,New,Cat 2,Sym 3,?,01-03-2016 10:00\n"
        + "".join(f"INC{n},New,Cat {n % 2},?,code {n % 2},01-03-2016 10:00\n" for n in range(3, 23))
    )
    spec = {
        "path": str(path),
        "label": "closed_code",
        "missing": ["?"],
        "map": {
            "external_id": "number",
            "event.kind": "state",
            "opened_at": "opened_at",
            "attributes.category": "category",
            "attributes.symptom": "u_symptom",
        },
    }
    groups = real_data.tickets(spec)
    assert [len(g) for g in groups[:3]] == [2, 1, 1] and len(groups) == 22
    assert real_data.label_of(groups[0], spec) == "code 2"  # the last row's label
    assert real_data.label_of(groups[1], spec) == ""  # "?" is no label
    assert real_data.baseline_text(groups[0], spec) == "category=Cat_9 symptom=Sym_4 New Resolved"
    train, test = real_data.split(groups, spec, None)
    kept = {g[0]["number"] for g in train + test}
    assert kept == {f"INC{n}" for n in range(3, 23)}  # INC2 has no label, INC1's class one ticket
    assert all(len({row["number"] for row in g}) == 1 for g in train + test)  # a ticket stays whole
    assert real_data._options(spec, with_label=True)[-2:] == ["--map=resolution=closed_code", "--missing=?"]


def test_a_tickets_rows_are_gathered_from_anywhere_in_the_log_in_the_importers_order(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text(
        "number,state,updated,closed_code\n"
        "INC1,Closed,02-03-2016 11:00,fixed\n"  # newest first, INC2's rows in between
        "INC2,Closed,01-03-2016 11:30,replaced\n"
        "INC1,New,01-03-2016 09:00,\n"
        "INC2,New,01-03-2016 10:00,\n"
        "INC2,Active,,\n"  # one row without a time: it stays after the row before it
    )
    spec = {
        "path": str(path),
        "label": "closed_code",
        "date_format": "%d-%m-%Y %H:%M",
        "map": {"external_id": "number", "event.kind": "state", "event.at": "updated"},
    }
    groups = real_data.tickets(spec)
    assert [[row["state"] for row in g] for g in groups] == [["New", "Closed"], ["New", "Active", "Closed"]]
    assert [real_data.label_of(g, spec) for g in groups] == ["fixed", "replaced"]


def test_the_shipped_specs_name_their_files_and_labels():
    specs = {spec["name"]: spec for spec in real_data.load_specs(REAL)}
    assert set(specs) == {"it_tickets", "incident_event_log"}
    assert real_data.is_event_log(specs["incident_event_log"]) and not real_data.is_event_log(
        specs["it_tickets"]
    )
    for spec in specs.values():
        assert Path(spec["path"]).is_file() and spec["label"]
        train, test = real_data.split(real_data.tickets(spec), spec, None)
        assert 0.19 < len(test) / (len(train) + len(test)) < 0.21
        assert {real_data.label_of(t, spec) for t in test} <= {real_data.label_of(t, spec) for t in train}


@pytest.mark.slow
def test_a_small_run_on_both_exports_writes_every_row(tmp_path):
    # An operator's folder of specs: a slice of the IT export by absolute path, saved as a German
    # spreadsheet saves "CSV" (semicolons, Windows-1252), and the event log.
    slice_path = tmp_path / "tickets.csv"
    with open(REAL / "it_tickets.csv", newline="") as f:
        rows = list(csv.DictReader(f))[:400]
    rows[0]["Document"] += " störung"  # a letter Windows-1252 writes in one byte
    with open(slice_path, "w", newline="", encoding="cp1252", errors="replace") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter=";")
        writer.writeheader()
        writer.writerows(rows)
    specs = tmp_path / "specs"
    specs.mkdir()
    spec = json.loads((REAL / "it_tickets.json").read_text())
    (specs / "mine.json").write_text(json.dumps({**spec, "name": "mine", "path": str(slice_path)}))
    log = json.loads((REAL / "incident_event_log.json").read_text())
    (specs / "log.json").write_text(json.dumps({**log, "path": str(REAL / "incident_event_log.csv")}))
    out = tmp_path / "real.json"
    # The benchmark makes its own throw-away database: never the one this test session uses.
    database = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ticketai").rstrip("/")
    env = {**os.environ, "DATABASE_URL": database + "_realbench"}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.real_data",
            "--data",
            str(specs),
            "--max-rows",
            "300",
            "--base-model",
            str(tiny_encoder_dir(tmp_path / "base")),
            "--epochs",
            "1",
            "--json",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(out.read_text())
    assert [d["name"] for d in result["datasets"]] == ["incident_event_log", "mine"]
    for dataset in result["datasets"]:
        assert "error" not in dataset, dataset.get("error")
        names = [row["name"] for row in dataset["rows"]]
        assert names == [
            "majority",
            "tfidf_lr",
            "served",
            "member:transformer",
            "member:lexical",
            "member:knn",
        ]
        for row in dataset["rows"]:
            assert set(row) == {"name", "accuracy", "macro_f1", "train_s"}
            assert 0 <= row["macro_f1"] <= 1 and 0 <= row["accuracy"] <= 1
        by_name = {row["name"]: row for row in dataset["rows"]}
        assert by_name["served"]["train_s"] > 0 and dataset["test"] >= 50
        assert set(dataset["weights"]) == {"transformer", "lexical", "knn"}
        assert 0 <= dataset["unfamiliar_share"] <= dataset["abstained_share"] <= 1
        assert dataset["lexical_class_weight"] in ("none", "sqrt", "inverse")
        training = dataset["training"]
        assert set(real_data.TRAINING_KEYS) <= set(training) and training["epochs_run"] >= 1
        assert training["device"] == "cpu" or training["device"].startswith("cuda (")
    # the tiny random encoder knows nothing: the mix must not follow it below the TF-IDF member
    mine = {row["name"]: row for row in result["datasets"][1]["rows"]}
    assert mine["served"]["accuracy"] > mine["member:transformer"]["accuracy"]


def test_labels_are_scored_as_the_import_reads_them():
    """The served model answers the catalogue's spelling of a fix; the export's own spelling of the
    same fix is not a miss, and a different fix still is."""
    row = real_data._row(
        "served", ["hardware  failure", "Re-seat card"], ["Hardware failure", "Reseat card"], None
    )

    assert row["accuracy"] == 0.5 and row["macro_f1"] == 0.5
