"""Real exports, the real user path: import -> train (no options) -> predict, against classic baselines.

    python -m benchmarks.real_data --json out.json                  # benchmarks/data/real/*.json
    python -m benchmarks.real_data --data DIR --only NAME --json out.json

Each dataset is a spec file (JSON) in the data folder:

    {"name": "it_tickets", "path": "it_tickets.csv", "label": "Topic_group",
     "map": {"description": "Document"}}

``map`` maps canonical ticket fields (title, description, opened_at, ...) to columns, as
``import_tickets --map`` does; ``label`` is the column holding the resolution. An optional
``adapter`` reshapes the file first: ``"event_log"`` folds one row per state change into one ticket
per ``ticket_id`` column (the last row's fields win), with ``fields`` written into the description
as ``field=value`` tokens and the ``sequence`` column's values in order (see ``fold_event_log``).

Per dataset: rows with no label and classes with fewer than 5 rows are dropped, then a stratified
80/20 split (seed 0). The 80% are written to a CSV and imported with ``import_tickets --map
--create-missing`` into a fresh database (a throw-away test database, dropped afterwards), the model
is trained with ``train --sync`` and no options, and ``predict`` scores the 20%. On the same split:

  majority          the most frequent training label
  tfidf_lr          TF-IDF word 1-2 grams + char_wb 3-5 grams (min_df 2, sublinear) side by side,
                    LogisticRegression(C=10); on the mapped title and description
  served            what ``predict`` answered (top recommendation; abstentions count as answered)
  member:<name>     each member of the served mix alone, from the served files, on the model input

Output: {"datasets": [{"name", "rows": [{"name", "accuracy", "macro_f1", "train_s"}], ...}]}.
``--max-rows N`` keeps a stratified sample of N rows first (for a quick run); ``--base-model`` and
``--epochs`` pass through to ``train`` (tests only: the benchmark's point is the default path).
"""

import argparse
import contextlib
import csv
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data" / "real"
MIN_CLASS_COUNT = 5
SEED = 0
TEST_FRACTION = 0.2
SOURCE = "bench"


# --- Specs and adapters (plain Python: no Django needed) -----------------------------------------


def load_specs(data_dir: Path, only: list[str] | None = None) -> list[dict]:
    specs = []
    for path in sorted(data_dir.glob("*.json")):
        spec = json.loads(path.read_text())
        spec["path"] = str((path.parent / spec["path"]).resolve())
        if not only or spec["name"] in only:
            specs.append(spec)
    return specs


def _read_csv(path: str) -> list[dict]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def _token(value: str) -> str:
    return "_".join(value.split())


def fold_event_log(rows: list[dict], spec: dict) -> list[dict]:
    """One ticket per ``spec["ticket_id"]``: the last row's fields (rows are in event order), the
    ``fields`` as ``field=value`` tokens in a description ("?" and empty values left out), the
    ``sequence`` column's values in order, ``opened_at`` as ISO 8601 when ``time_format`` parses it.

    A stand-in until ``import_tickets`` folds event logs itself (issue 15, item 6): the spec then
    maps the columns and the importer does this."""
    tickets: dict[str, dict] = {}
    sequences: dict[str, list[str]] = {}
    for row in rows:
        key = row[spec["ticket_id"]]
        tickets[key] = row
        sequences.setdefault(key, []).append(_token(row.get(spec.get("sequence", ""), "") or ""))
    folded = []
    for key, row in tickets.items():
        tokens = [
            f"{field}={_token(row[field])}"
            for field in spec["fields"]
            if row.get(field, "?").strip() not in ("", "?")
        ]
        states = " ".join(s for s in sequences[key] if s)
        doc = {
            "external_id": key,
            "description": " ".join(tokens) + (f" | states {states}" if states else ""),
        }
        doc["resolution"] = "" if row[spec["label"]].strip() == "?" else row[spec["label"]].strip()
        opened = row.get(spec.get("opened_at", ""), "")
        if opened and spec.get("time_format"):
            with contextlib.suppress(ValueError):
                doc["opened_at"] = datetime.strptime(opened, spec["time_format"]).isoformat() + "Z"
        folded.append(doc)
    return folded


def canonical_rows(spec: dict) -> tuple[list[dict], dict]:
    """The dataset's rows and the ``--map`` for them (canonical field -> column)."""
    rows = _read_csv(spec["path"])
    if spec.get("adapter") == "event_log":
        rows = fold_event_log(rows, spec)
        mapping = {"external_id": "external_id", "description": "description", "resolution": "resolution"}
        if any("opened_at" in r for r in rows):
            mapping["opened_at"] = "opened_at"
        return rows, mapping
    if spec.get("adapter"):
        raise SystemExit(f"{spec['name']}: unknown adapter {spec['adapter']!r}")
    return rows, {**spec["map"], "resolution": spec["label"]}


def split(rows: list[dict], label_column: str, max_rows: int | None) -> tuple[list[dict], list[dict]]:
    """Drop unlabelled rows and classes under MIN_CLASS_COUNT; stratified 80/20 (seed 0)."""
    from sklearn.model_selection import train_test_split

    rows = [r for r in rows if (r.get(label_column) or "").strip()]
    counts = Counter(r[label_column] for r in rows)
    rows = [r for r in rows if counts[r[label_column]] >= MIN_CLASS_COUNT]
    if max_rows and len(rows) > max_rows:
        rows, _ = train_test_split(
            rows, train_size=max_rows, stratify=[r[label_column] for r in rows], random_state=SEED
        )
        counts = Counter(r[label_column] for r in rows)
        rows = [r for r in rows if counts[r[label_column]] >= 2]
    train, test = train_test_split(
        rows, test_size=TEST_FRACTION, stratify=[r[label_column] for r in rows], random_state=SEED
    )
    return train, test


def _write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _row(name: str, y_true: list[str], y_pred: list[str], train_s: float | None) -> dict:
    from sklearn.metrics import accuracy_score, f1_score

    present = sorted(set(y_true))
    return {
        "name": name,
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
        "macro_f1": round(
            float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)), 4
        ),
        "train_s": round(train_s, 1) if train_s is not None else None,
    }


def _text(row: dict, mapping: dict) -> str:
    return " ".join(row.get(mapping[f], "") or "" for f in ("title", "description") if f in mapping)


def baselines(train: list[dict], test: list[dict], mapping: dict) -> list[dict]:
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    label = mapping["resolution"]
    y_train, y_test = [r[label] for r in train], [r[label] for r in test]
    t0 = time.monotonic()
    majority = Counter(y_train).most_common(1)[0][0]
    rows = [_row("majority", y_test, [majority] * len(test), time.monotonic() - t0)]
    t0 = time.monotonic()
    words = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), min_df=2, sublinear_tf=True)
    train_text, test_text = [_text(r, mapping) for r in train], [_text(r, mapping) for r in test]
    x_train = hstack([words.fit_transform(train_text), chars.fit_transform(train_text)]).tocsr()
    x_test = hstack([words.transform(test_text), chars.transform(test_text)]).tocsr()
    classifier = LogisticRegression(C=10, max_iter=2000).fit(x_train, y_train)
    rows.append(_row("tfidf_lr", y_test, list(classifier.predict(x_test)), time.monotonic() - t0))
    return rows


# --- The user path (Django, a throw-away database) -----------------------------------------------


def user_path(work: Path, train: list[dict], test: list[dict], mapping: dict, train_options: dict) -> dict:
    """import_tickets -> train --sync -> predict, on a fresh database; rows served and member:*."""
    import io

    import numpy as np
    from django.core.management import CommandError, call_command

    from ml.management.commands.predict import Command as Predict
    from ml.models import TrainingRun
    from ml.serving import ensemble, inference
    from repair_center.ingestion import readers

    label = mapping["resolution"]
    _write_csv(work / "train.csv", train)
    _write_csv(work / "test.csv", test)
    maps = [f"{field}={column}" for field, column in mapping.items()]
    t0 = time.monotonic()
    out = io.StringIO()
    call_command(
        "import_tickets",
        str(work / "train.csv"),
        source=SOURCE,
        map=maps,
        create_missing=True,
        stdout=out,
        stderr=out,
    )
    import_s = time.monotonic() - t0
    t0 = time.monotonic()
    try:
        call_command("train", sync=True, stdout=out, stderr=io.StringIO(), **train_options)
    except CommandError as e:  # the run's reason (a failed quality gate, say) is the result
        run = TrainingRun.objects.order_by("-id").first()
        return {"error": f"{type(e).__name__}: {e}", "run_reason": run.reason if run else None}
    train_s = time.monotonic() - t0
    t0 = time.monotonic()
    test_maps = [m for m in maps if not m.startswith("resolution=")]
    call_command(
        "predict",
        str(work / "test.csv"),
        output=str(work / "predicted.jsonl"),
        map=test_maps,
        stdout=out,
        stderr=out,
    )
    predict_s = time.monotonic() - t0
    lines = [json.loads(line) for line in (work / "predicted.jsonl").read_text().splitlines()]
    predicted = [
        line["recommendations"][0]["resolution"] if "recommendations" in line else "" for line in lines
    ]
    y_test = [r[label] for r in test]
    run = TrainingRun.objects.filter(status=TrainingRun.Status.SUCCEEDED).order_by("-id").first()
    version = run.model_version
    training = json.loads((Path(version.artifact_path) / "manifest.json").read_text()).get("training", {})
    rows = [_row("served", y_test, predicted, train_s)]

    # Each member alone, from the served files, on the same model input as predict built.
    predictor = inference.load_champion()
    documents = []
    for row in readers.read_rows(work / "test.csv"):
        parsed = Predict._parse(row, readers.parse_mapping(test_maps, _fields()), True, "test.csv", "file")
        documents.append(parsed.get("document"))
    texts = predictor.inputs(documents, inference.documents_contexts(documents))
    logits, raw = predictor.encoder.run(texts)
    probas = {
        "transformer": ensemble.softmax(logits),
        "lexical": predictor.lexical.proba(texts),
        "knn": ensemble.knn_proba(
            ensemble.normalise(raw),
            predictor.index,
            predictor.index_y,
            len(predictor.labels),
            k=int(predictor.config["knn_k"]),
        ),
    }
    for name, proba in probas.items():
        member_pred = [predictor.labels[i] for i in np.argmax(proba, axis=1)]
        member_s = training.get("train_s") if name == "transformer" else None
        rows.append(_row(f"member:{name}", y_test, member_pred, member_s))
    metrics = version.metrics
    return {
        "rows": rows,
        "import_s": round(import_s, 1),
        "predict_s": round(predict_s, 1),
        "weights": predictor.config["weights"],
        "lexical_class_weight": predictor.config.get("lexical_class_weight"),
        "internal_split": version.split,
        "internal_eval": {
            name: {k: summary.get(k) for k in ("accuracy", "macro_f1")}
            for name, summary in metrics.get("members", {}).items()
        },
        "validation": predictor.config.get("validation"),
        "training": {
            k: training.get(k)
            for k in (
                "max_length",
                "epochs_run",
                "best_epoch",
                "steps",
                "stopped",
                "best_val_macro_f1",
                "train_s",
                "history",
            )
        },
    }


def _fields():
    from repair_center.documents import FIELDS

    return FIELDS


def run_dataset(spec: dict, *, max_rows: int | None, train_options: dict) -> dict:
    from django.db import connection

    rows, mapping = canonical_rows(spec)
    train, test = split(rows, mapping["resolution"], max_rows)
    result = {
        "name": spec["name"],
        "train": len(train),
        "test": len(test),
        "classes": len({r[mapping["resolution"]] for r in train + test}),
    }
    result["rows"] = baselines(train, test, mapping)
    print(
        f"{spec['name']}: {len(train)} train, {len(test)} test; baselines {result['rows']}", file=sys.stderr
    )
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        with tempfile.TemporaryDirectory(prefix="real-data-") as tmp:
            from django.conf import settings

            settings.TICKETAI_MODEL_DIR = Path(tmp) / "models"
            served = user_path(Path(tmp), train, test, mapping, train_options)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    result["rows"] += served.pop("rows", [])
    result.update(served)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data", type=Path, default=DATA_DIR, help="A folder of dataset spec files (*.json)."
    )
    parser.add_argument("--only", action="append", help="Only this dataset (repeatable).")
    parser.add_argument("--max-rows", type=int, default=None, help="A stratified sample of this many rows.")
    parser.add_argument("--base-model", default="", help="Passed to train (tests only).")
    parser.add_argument("--epochs", type=int, default=0, help="Passed to train (tests only).")
    parser.add_argument("--json", type=Path, help="Also write the result here.")
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ticketai.settings")
    import django

    django.setup()
    train_options = {k: v for k, v in (("base_model", args.base_model), ("epochs", args.epochs)) if v}
    random.seed(SEED)
    specs = load_specs(args.data, args.only)
    if not specs:
        parser.error(f"no dataset specs (*.json) in {args.data}")
    result = {
        "datasets": [run_dataset(s, max_rows=args.max_rows, train_options=train_options) for s in specs]
    }
    text = json.dumps(result, indent=1)
    if args.json:
        args.json.write_text(text)
    print(text)
    for dataset in result["datasets"]:
        print(f"\n{dataset['name']} ({dataset['train']} train / {dataset['test']} test)", file=sys.stderr)
        if "error" in dataset:
            print(f"  user path failed: {dataset['error']}", file=sys.stderr)
        for row in dataset["rows"]:
            print(
                f"  {row['name']:<20} acc {row['accuracy']:.3f}  macro-F1 {row['macro_f1']:.3f}",
                file=sys.stderr,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
