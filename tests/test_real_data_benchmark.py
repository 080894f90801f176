"""benchmarks.real_data: the real user path (import_tickets -> train -> predict) and the baselines
on a small slice of the real exports, in the documented JSON shape; and the event-log adapter."""

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


def test_the_event_log_is_folded_into_one_ticket_per_incident_the_last_row_winning():
    rows = [
        {
            "number": "INC1",
            "state": "New",
            "category": "Cat 1",
            "u_symptom": "?",
            "closed_code": "code 1",
            "opened_at": "29-02-2016 01:16",
        },
        {
            "number": "INC2",
            "state": "New",
            "category": "Cat 2",
            "u_symptom": "Sym 3",
            "closed_code": "?",
            "opened_at": "01-03-2016 10:00",
        },
        {
            "number": "INC1",
            "state": "Resolved",
            "category": "Cat 9",
            "u_symptom": "Sym 4",
            "closed_code": "code 2",
            "opened_at": "29-02-2016 01:16",
        },
    ]
    spec = {
        "ticket_id": "number",
        "label": "closed_code",
        "fields": ["category", "u_symptom"],
        "sequence": "state",
        "opened_at": "opened_at",
        "time_format": "%d-%m-%Y %H:%M",
    }
    folded = {doc["external_id"]: doc for doc in real_data.fold_event_log(rows, spec)}
    assert folded["INC1"] == {
        "external_id": "INC1",
        "description": "category=Cat_9 u_symptom=Sym_4 | states New Resolved",
        "resolution": "code 2",
        "opened_at": "2016-02-29T01:16:00Z",
    }
    assert folded["INC2"]["description"] == "category=Cat_2 u_symptom=Sym_3 | states New"
    assert folded["INC2"]["resolution"] == ""  # "?" is no label


def test_the_shipped_specs_name_their_files_and_labels():
    specs = {spec["name"]: spec for spec in real_data.load_specs(REAL)}
    assert set(specs) == {"it_tickets", "incident_event_log"}
    for spec in specs.values():
        rows, mapping = real_data.canonical_rows(spec)
        assert Path(spec["path"]).is_file() and "resolution" in mapping
        train, test = real_data.split(rows, mapping["resolution"], None)
        assert 0.19 < len(test) / (len(train) + len(test)) < 0.21
        assert {r[mapping["resolution"]] for r in test} <= {r[mapping["resolution"]] for r in train}


@pytest.mark.slow
def test_a_small_run_on_both_exports_writes_every_row(tmp_path):
    # An operator's folder of specs: a slice of the IT export by absolute path, and the event log.
    slice_path = tmp_path / "tickets.csv"
    with open(REAL / "it_tickets.csv", newline="") as f:
        rows = list(csv.DictReader(f))[:400]
    with open(slice_path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
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
        assert dataset["lexical_class_weight"] in ("none", "sqrt", "inverse")
    # the tiny random encoder knows nothing: the mix must not follow it below the TF-IDF member
    mine = {row["name"]: row for row in result["datasets"][1]["rows"]}
    assert mine["served"]["accuracy"] > mine["member:transformer"]["accuracy"]
