"""benchmarks.correlation end to end on a small world: both arms scored, the alarms given back, the
summary over two world seeds in the documented shape; the saved worlds replayed offline
(benchmarks.correlation_replay) to the same figures."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.correlation import SIMULATOR_WINDOW_MINUTES
from benchmarks.ingest import sibling_database

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_two_small_worlds_score_both_arms_and_summarise_the_points_lost(tmp_path):
    out = tmp_path / "correlation.json"
    database = sibling_database(os.environ["DATABASE_URL"], "bench_correlation_test")
    worlds = tmp_path / "worlds"
    options = ["--tickets", "200", "--seeds", "3", "4", "--database-url", database, "--json", str(out)]
    options += ["--save", str(worlds)]
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks.correlation", *options],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(out.read_text())
    runs = result["runs"]
    assert [r["seed"] for r in runs] == result["summary"]["seeds"] == [3, 4]
    for r in runs:
        assert r["window_minutes"] == SIMULATOR_WINDOW_MINUTES
        scores = r["scores"]
        assert scores["inline"]["held_out"] == scores["correlated"]["held_out"] > 0
        # The alarm events carry the signal, and correlation gives nearly all of them back.
        assert scores["inline"]["macro_f1"] > scores["without_alarms"]["macro_f1"]
        events = r["events"]
        assert (
            events["correlated"]["alarm_events_per_ticket"]
            >= 0.9 * events["inline"]["alarm_events_per_ticket"]
        )
        lost = 100 * (scores["inline"]["macro_f1"] - scores["correlated"]["macro_f1"])
        assert r["macro_f1_points_lost"] == pytest.approx(lost, abs=0.01)
        assert r["held_out_noise"]["tickets"] == scores["inline"]["held_out"]
    summary = result["summary"]
    assert summary["points_lost"] == [r["macro_f1_points_lost"] for r in runs]
    assert summary["goal_met_on_mean"] == (summary["points_lost_mean"] <= 1.0)
    low, high = summary["points_lost_mean_95"]
    assert low <= summary["points_lost_mean"] <= high
    assert 0 <= summary["points_lost_mean_share_within_1_point"] <= 1
    assert "_rounds" not in runs[0]

    # The saved worlds, replayed with the product's correlation rule and no database, score the same.
    replayed = tmp_path / "replayed.json"
    replay = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.correlation_replay",
            str(worlds),
            "--truth",
            "--json",
            str(replayed),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={key: value for key, value in os.environ.items() if key != "DATABASE_URL"},
    )
    assert replay.returncode == 0, replay.stderr[-3000:]
    again = json.loads(replayed.read_text())
    assert sorted(p.name for p in worlds.iterdir()) == ["world-3.json.gz", "world-4.json.gz"]
    for first, second in zip(runs, again["runs"], strict=True):
        for arm in ("inline", "correlated"):
            assert second["scores"][arm] == first["scores"][arm]
        assert second["macro_f1_points_lost"] == first["macro_f1_points_lost"]
        assert second["held_out_noise"] == first["held_out_noise"]
        # With the simulator's truth: the same held-out tickets, with their own alarms or without others'.
        for arm in ("true_owner", "without_foreign"):
            assert second["ownership"][arm]["held_out"] == first["scores"]["correlated"]["held_out"]
            lost = 100 * (first["scores"]["inline"]["macro_f1"] - second["ownership"][arm]["macro_f1"])
            assert second["ownership"][arm]["macro_f1_points_lost"] == pytest.approx(lost, abs=0.01)
    assert again["summary"] == summary
