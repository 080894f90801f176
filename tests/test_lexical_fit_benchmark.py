"""benchmarks.lexical_fit: a small run of the product's path and the reference fits, in the
documented shape, on many skewed classes."""

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

from benchmarks.lexical_fit import many_classes
from ml.training.lexical import CLASS_WEIGHTINGS

ROOT = Path(__file__).resolve().parent.parent


def test_the_many_class_set_has_the_classes_asked_for_and_is_skewed():
    texts, labels = many_classes(400, 40)
    counts = Counter(labels)
    assert len(texts) == len(labels) == 400
    assert 20 <= len(counts) <= 40  # eight topics, each split in five by its first word
    assert max(counts.values()) > 5 * min(counts.values())


def test_a_small_run_prints_both_ways_of_fitting(tmp_path):
    out = tmp_path / "lexical.json"
    command = [sys.executable, "-m", "benchmarks.lexical_fit", "--tickets", "300", "--classes", "16"]
    command += ["--json", str(out)]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    result = json.loads(out.read_text())
    assert result["tickets"] == 300 and result["classes"] >= 8 and result["chosen"] in CLASS_WEIGHTINGS
    assert set(result["refit_s"]) == {"cold", "from_member"}
    for mode in ("cold", "chained"):
        assert set(result[mode]) == set(CLASS_WEIGHTINGS)
    # the first weighting starts from zero either way
    assert result["cold"]["none"]["iterations"] == result["chained"]["none"]["iterations"]
    assert json.loads(run.stdout) == result
