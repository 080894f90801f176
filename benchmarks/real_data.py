"""Real exports, the real user path: import -> train (no options) -> predict, against classic baselines.

    python -m benchmarks.real_data --json out.json                  # benchmarks/data/real/*.json
    python -m benchmarks.real_data --data DIR --only NAME --json out.json

Each dataset is a spec file (JSON) in the data folder, naming the options a user would give
``import_tickets`` and ``predict``:

    {"name": "it_tickets", "path": "it_tickets.csv", "label": "Topic_group",
     "map": {"description": "Document"}}

``map`` is ``--map`` (canonical field, ``attributes.NAME`` or ``event.*`` -> column), ``label`` the
column holding the resolution; optional ``date_format``, ``missing`` and ``encoding`` are
``--date-format``, ``--missing`` and ``--encoding`` (the last for reading the export: the benchmark
writes its train and test parts as UTF-8). With ``event.*`` entries the file is an event log: its
rows are grouped into tickets by the ``external_id`` column (the last row's label) before the split,
and the importer folds them.

Per dataset: tickets with no label and classes with fewer than 5 tickets are dropped, then a
stratified 80/20 split (seed 0). The 80% are written to a CSV and imported with ``import_tickets
--create-missing`` and the spec's options into a fresh database (a throw-away test database,
dropped afterwards), the model is trained with ``train --sync`` and no options, and ``predict``
(the same options) scores the 20%. On the same split:

  majority          the most frequent training label
  tfidf_lr          TF-IDF word 1-2 grams + char_wb 3-5 grams (min_df 2, sublinear) side by side,
                    LogisticRegression(C=10); on the mapped title and description, and for an
                    event log also the last row's mapped attributes (name=value) and event kinds
  served            what ``predict`` answered (top recommendation; abstentions count as answered)
  member:<name>     each member of the served mix alone, from the served files, on the model input

Output: {"datasets": [{"name", "rows": [{"name", "accuracy", "macro_f1", "train_s"}], ...}]}.
``--max-rows N`` keeps a stratified sample of N rows first (for a quick run); ``--base-model`` and
``--epochs`` pass through to ``train`` (tests only: the benchmark's point is the default path).
"""

import argparse
import csv
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
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


def _read_csv(path: str, encoding: str = "") -> list[dict]:
    """The rows as the importer reads them (the export's own separator and encoding, or the spec's
    ``encoding``), every column in each; a row the importer would reject as unreadable is left out
    here too."""
    from repair_center.ingestion import readers

    columns = [name for name in readers.columns(path, encoding=encoding) if name]
    return [
        {name: row.data.get(name, "") for name in columns}
        for row in readers.read_rows(path, encoding=encoding)
        if row.data is not None
    ]


def _token(value: str) -> str:
    return "_".join(value.split())


def is_event_log(spec: dict) -> bool:
    return any(field.startswith("event.") for field in spec["map"])


def tickets(spec: dict) -> list[list[dict]]:
    """The dataset's tickets, each a list of its rows (one row unless the file is an event log, whose
    rows with the same ``external_id`` make one ticket wherever they are, in the order the importer
    folds them), with the spec's null markers (``missing``) blanked as the importer blanks them."""
    nulls = {value.strip() for value in spec.get("missing", [])}
    rows = [
        {k: "" if (v or "").strip() in nulls else v for k, v in r.items()}
        for r in _read_csv(spec["path"], spec.get("encoding", ""))
    ]
    if not is_event_log(spec):
        return [[row] for row in rows]
    key = spec["map"]["external_id"]
    grouped: dict[str, list[dict]] = {}
    for row in rows:
        grouped.setdefault(row[key], []).append(row)
    return [_in_fold_order(group, spec) for group in grouped.values()]


def _in_fold_order(rows: list[dict], spec: dict) -> list[dict]:
    """A ticket's rows in time order when each has a time, as the importer folds them."""
    from repair_center.ingestion.ticket_rows import in_time_order, read_time

    column = spec["map"].get("event.at")
    if not column:
        return rows
    return in_time_order(rows, [read_time(row.get(column), spec.get("date_format", "")) for row in rows])


def label_of(ticket: list[dict], spec: dict) -> str:
    return (ticket[-1].get(spec["label"]) or "").strip()


def split(groups: list[list[dict]], spec: dict, max_rows: int | None):
    """Drop unlabelled tickets and classes under MIN_CLASS_COUNT; stratified 80/20 (seed 0)."""
    from sklearn.model_selection import train_test_split

    groups = [g for g in groups if label_of(g, spec)]
    counts = Counter(label_of(g, spec) for g in groups)
    groups = [g for g in groups if counts[label_of(g, spec)] >= MIN_CLASS_COUNT]
    if max_rows and len(groups) > max_rows:
        groups, _ = train_test_split(
            groups, train_size=max_rows, stratify=[label_of(g, spec) for g in groups], random_state=SEED
        )
        counts = Counter(label_of(g, spec) for g in groups)
        groups = [g for g in groups if counts[label_of(g, spec)] >= 2]
    train, test = train_test_split(
        groups, test_size=TEST_FRACTION, stratify=[label_of(g, spec) for g in groups], random_state=SEED
    )
    return train, test


def _write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _row(name: str, y_true: list[str], y_pred: list[str], train_s: float | None) -> dict:
    """Scores with labels compared as the import reads them: the served model answers
    ``Hardware failure`` for an export's ``hardware  failure`` (catalogue.resolution_key)."""
    from sklearn.metrics import accuracy_score, f1_score

    from repair_center.services.catalogue import resolution_key

    y_true, y_pred = [resolution_key(y) for y in y_true], [resolution_key(y) for y in y_pred]
    present = sorted(set(y_true))
    return {
        "name": name,
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
        "macro_f1": round(
            float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)), 4
        ),
        "train_s": round(train_s, 1) if train_s is not None else None,
    }


def baseline_text(ticket: list[dict], spec: dict) -> str:
    """What the baseline reads of a ticket: the mapped title and description, the other mapped
    fields of its last row as ``name=value`` tokens (attributes, priority, site, ...), and for an
    event log its event kinds in order. Ids and dates are left out."""
    last, parts = ticket[-1], []
    for name, column in spec["map"].items():
        value = (last.get(column) or "").strip()
        if name in ("title", "description"):
            parts.append(value)
        elif (
            value
            and not name.startswith("event.")
            and name not in ("external_id", "opened_at", "resolved_at")
        ):
            parts.append(f"{name.removeprefix('attributes.')}={_token(value)}")
    if "event.kind" in spec["map"]:
        parts.append(" ".join(_token(row.get(spec["map"]["event.kind"]) or "") for row in ticket))
    return " ".join(parts)


def baselines(train: list[list[dict]], test: list[list[dict]], spec: dict) -> list[dict]:
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer

    from ml.serving.logistic import fit_logistic

    y_train, y_test = [label_of(t, spec) for t in train], [label_of(t, spec) for t in test]
    t0 = time.monotonic()
    majority = Counter(y_train).most_common(1)[0][0]
    rows = [_row("majority", y_test, [majority] * len(test), time.monotonic() - t0)]
    t0 = time.monotonic()
    words = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), min_df=2, sublinear_tf=True)
    train_text = [baseline_text(t, spec) for t in train]
    test_text = [baseline_text(t, spec) for t in test]
    x_train = hstack([words.fit_transform(train_text), chars.fit_transform(train_text)]).tocsr()
    x_test = hstack([words.transform(test_text), chars.transform(test_text)]).tocsr()
    classifier = fit_logistic(x_train, y_train, C=10, max_iter=2000)
    rows.append(_row("tfidf_lr", y_test, list(classifier.predict(x_test)), time.monotonic() - t0))
    return rows


# --- The user path (Django, a throw-away database) -----------------------------------------------


def _options(spec: dict, *, with_label: bool) -> list[str]:
    """The spec as command-line options, as a user would type them."""
    mapping = dict(spec["map"])
    if with_label:
        mapping["resolution"] = spec["label"]
    options = [f"--map={field}={column}" for field, column in mapping.items()]
    options += [f"--missing={value}" for value in spec.get("missing", [])]
    if spec.get("date_format"):
        options.append(f"--date-format={spec['date_format']}")
    return options


def _import_and_train(work: Path, train: list[list[dict]], spec: dict, train_options: dict) -> dict:
    """import_tickets then train --sync; {"import_s", "train_s"} or the run's error."""
    import io

    from django.core.management import CommandError, call_command

    from ml.models import TrainingRun

    _write_csv(work / "train.csv", [row for ticket in train for row in ticket])
    out = io.StringIO()
    t0 = time.monotonic()
    call_command(
        "import_tickets",
        str(work / "train.csv"),
        f"--source={SOURCE}",
        "--create-missing",
        *_options(spec, with_label=True),
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
    return {"import_s": import_s, "train_s": time.monotonic() - t0}


def _predict(work: Path, test: list[list[dict]], spec: dict) -> tuple[list[str], float, dict]:
    """predict on the test tickets (labels left out): the top resolution per ticket, in order, and
    the shares of them the model abstained on and called unfamiliar."""
    import io

    from django.core.management import call_command

    rows = [{k: v for k, v in row.items() if k != spec["label"]} for ticket in test for row in ticket]
    _write_csv(work / "test.csv", rows)
    t0 = time.monotonic()
    out = io.StringIO()
    options = _options(spec, with_label=False)
    call_command(
        "predict", str(work / "test.csv"), f"--output={work / 'predicted.jsonl'}", *options, stdout=out
    )
    predict_s = time.monotonic() - t0
    lines = [json.loads(line) for line in (work / "predicted.jsonl").read_text().splitlines()]
    errors = [line for line in lines if "error" in line]
    if errors or len(lines) != len(test):
        raise SystemExit(f"{spec['name']}: predict read {len(lines)} of {len(test)} tickets: {errors[:3]}")
    shares = {
        name: round(sum(bool(line.get(name)) for line in lines) / len(lines), 4)
        for name in ("abstained", "unfamiliar")
    }
    return (
        [line["recommendations"][0]["resolution"] if line["recommendations"] else "" for line in lines],
        predict_s,
        shares,
    )


def _member_rows(work: Path, spec: dict, y_test: list[str], transformer_s) -> tuple[list[dict], object]:
    """Each member of the served mix alone, from the served files, on the model input predict built."""
    import numpy as np

    from ml.serving import ensemble, inference
    from repair_center.documents import parse_ticket
    from repair_center.ingestion.files import read_ticket_rows
    from repair_center.ingestion.mapping import parse_mapping
    from repair_center.ingestion.ticket_rows import MAPPING_PREFIXES

    predictor = inference.load_champion()
    mapping = parse_mapping(
        [f"{f}={c}" for f, c in spec["map"].items()], _fields(), prefixes=MAPPING_PREFIXES
    )
    documents = [
        parse_ticket(ticket.document, default_source="file").to_json()
        for ticket in read_ticket_rows(
            work / "test.csv",
            mapping=mapping,
            date_format=spec.get("date_format", ""),
            missing=spec.get("missing", []),
        )
    ]
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
    rows = []
    for name, proba in probas.items():
        member_pred = [predictor.labels[i] for i in np.argmax(proba, axis=1)]
        rows.append(
            _row(f"member:{name}", y_test, member_pred, transformer_s if name == "transformer" else None)
        )
    return rows, predictor


TRAINING_KEYS = (
    "device",
    "epochs",
    "tokens_per_s_trained",
    "max_length",
    "epochs_run",
    "best_epoch",
    "wound_down_at",
    "steps",
    "stopped",
    "best_val_macro_f1",
    "train_s",
)


def user_path(
    work: Path, train: list[list[dict]], test: list[list[dict]], spec: dict, train_options: dict
) -> dict:
    """import_tickets -> train --sync -> predict, on a fresh database; rows served and member:*."""
    from ml.models import TrainingRun

    trained = _import_and_train(work, train, spec, train_options)
    if "error" in trained:
        return trained
    predicted, predict_s, shares = _predict(work, test, spec)
    y_test = [label_of(t, spec) for t in test]
    version = (
        TrainingRun.objects.filter(status=TrainingRun.Status.SUCCEEDED).order_by("-id").first().model_version
    )
    training = json.loads((version.artifact_dir / "manifest.json").read_text()).get("training", {})
    members, predictor = _member_rows(work, spec, y_test, training.get("train_s"))
    return {
        "rows": [_row("served", y_test, predicted, trained["train_s"]), *members],
        "import_s": round(trained["import_s"], 1),
        "predict_s": round(predict_s, 1),
        "abstained_share": shares["abstained"],  # answered "unsure": below Medium, or unfamiliar
        "unfamiliar_share": shares["unfamiliar"],
        "weights": predictor.config["weights"],
        "lexical_class_weight": predictor.config.get("lexical_class_weight"),
        "internal_split": version.split,
        "internal_eval": {
            name: {k: summary.get(k) for k in ("accuracy", "macro_f1")}
            for name, summary in version.metrics.get("members", {}).items()
        },
        "validation": predictor.config.get("validation"),
        "training": {k: training.get(k) for k in (*TRAINING_KEYS, "history")},
    }


def _fields():
    from repair_center.documents import FIELDS

    return FIELDS


def run_dataset(spec: dict, *, max_rows: int | None, train_options: dict) -> dict:
    from django.db import connection

    train, test = split(tickets(spec), spec, max_rows)
    result = {
        "name": spec["name"],
        "train": len(train),
        "test": len(test),
        "classes": len({label_of(t, spec) for t in train + test}),
    }
    result["rows"] = baselines(train, test, spec)
    print(
        f"{spec['name']}: {len(train)} train, {len(test)} test; baselines {result['rows']}", file=sys.stderr
    )
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        with tempfile.TemporaryDirectory(prefix="real-data-") as tmp:
            from django.conf import settings

            settings.TICKETAI_MODEL_DIR = Path(tmp) / "models"
            served = user_path(Path(tmp), train, test, spec, train_options)
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
