"""benchmarks.ablation: the issue's five rows and the served predictor's, in the issue's JSON shape,
from a small real run; and the full 20,000-ticket result kept in benchmarks/results is the one
docs/benchmarks.md's table shows."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.ablation import ROWS, parse_args
from tests.factories import tiny_encoder_dir

ROOT = Path(__file__).resolve().parent.parent
KEYS = {"name", "accuracy", "macro_f1", "top3", "train_s", "ms_per_ticket"}


@pytest.mark.slow
def test_a_small_run_writes_every_row_in_the_documented_shape(tmp_path):
    out = tmp_path / "ablation.json"
    env = {**os.environ, "TICKETAI_BASE_MODEL": str(tiny_encoder_dir(tmp_path / "base"))}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.ablation",
            "--tickets",
            "400",
            "--epochs",
            "1",
            "--max-length",
            "48",
            "--max-train-samples",
            "48",
            "--json",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["tickets"] == 400
    assert [row["name"] for row in result["rows"]] == list(ROWS)
    split = result["split"]
    assert split["train"] > split["validation"] > 0 and split["eval"] > 0
    for row in result["rows"]:
        assert set(row) >= KEYS
        assert 0 <= row["macro_f1"] <= row["top3"] <= 1 and 0 <= row["accuracy"] <= 1
        assert row["ms_per_ticket"] > 0
    transformers = [row for row in result["rows"] if row["name"].startswith("transformer")]
    assert all(row["train_s"] > 0 and row["epochs_run"] == 1 for row in transformers)
    # the plan is recorded; one explicit epoch is planned and run whole, so nothing stopped it
    assert all(row["steps"] == row["planned_steps"] == row["planned_steps_probe"] > 0 for row in transformers)
    assert all(row["stopped"] is None and row["tokens_per_s_measured"] is None for row in transformers)
    by_name = {row["name"]: row for row in result["rows"]}
    served = by_name["served_all"]  # fitted on top of transformer_all's encoder, so it took longer
    assert served["train_s"] > by_name["transformer_all"]["train_s"]
    assert set(served["weights"]) == {"transformer", "lexical", "knn"}
    assert sum(served["weights"].values()) == pytest.approx(1.0)
    # the printed table follows the rows
    assert all(name in run.stdout for name in ROWS)


def test_asking_for_the_served_row_alone_fine_tunes_the_encoder_it_is_built_on():
    # It used to run nothing and exit 0: served_all is made inside transformer_all's fine-tune.
    assert sorted(parse_args(["--rows", "served_all"]).rows) == ["served_all", "transformer_all"]
    assert parse_args(["--rows", "tfidf_all"]).rows == ["tfidf_all"]
    assert parse_args([]).rows == list(ROWS)


def test_the_benchmarks_page_table_is_the_recorded_20000_ticket_run():
    result = json.loads((ROOT / "benchmarks" / "results" / "ablation-20000.json").read_text())
    assert result["tickets"] == 20000 and [row["name"] for row in result["rows"]] == list(ROWS)
    page = (ROOT / "docs" / "benchmarks.md").read_text()
    for row in result["rows"]:
        cells = [f"{row[key]:.3f}" for key in ("accuracy", "macro_f1", "top3")]
        line = re.search(rf"^\| {row['name']} \| (.+) \|$", page, re.MULTILINE)
        assert line, f"no docs/benchmarks.md row for {row['name']}"
        assert line.group(1).split(" | ")[:3] == cells, row["name"]
