"""Ablation: do error codes and event sequences matter? Five models on one time split of simulator data.

    python -m benchmarks.ablation --tickets 20000 --json out.json

Rows (each with accuracy, macro_f1, top3, train_s, ms_per_ticket on the same held-out tickets):
  runbook           the fix most often used for the ticket's first (curated) code
  tfidf_text        TF-IDF + logistic regression on title and description only
  tfidf_all         the same on the full model input (site, unit, codes, timed events, text)
  transformer_text  all-MiniLM-L6-v2 fine-tuned on title and description only
  transformer_all   the same on the full model input
  served_all        what `train` serves from that fine-tuned encoder: its int8 ONNX export, the
                    lexical member and neighbour votes, each calibrated, mixed (ml.serving.ensemble);
                    asking for it (``--rows served_all``) fine-tunes and reports transformer_all too

No database: tickets come straight from the simulator, and each is serialised exactly as
ml.core.dataset does after ingest (vendor alarm ids shown as curated codes, site and unit context),
with ml.core.serialization.serialize. The split is by time (newest 20% held out, the 10% before them
for early stopping); classes with fewer than 5 training tickets are dropped, as the quality gate
does. Inference time includes loading the model once.
"""

import argparse
import json
import os
import sys
import time
from collections import Counter
from datetime import UTC, date, datetime

ROWS = ("runbook", "tfidf_text", "tfidf_all", "transformer_text", "transformer_all", "served_all")
MIN_CLASS_COUNT = 5
PLAN_KEYS = (
    "device",
    "max_length",
    "epochs_run",
    "steps",
    "planned_steps_probe",
    "planned_steps",
    "tokens_per_s_measured",
    "tokens_per_s_trained",
    "stopped",
)


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def simulated_examples(tickets: int, seed: int) -> list[dict]:
    """Labelled simulator tickets with their full and text-only model inputs, oldest first."""
    from ml.core.serialization import serialize
    from repair_center.simulator.catalogue import aliases
    from repair_center.simulator.generator import SimulationConfig, TicketGenerator

    config = SimulationConfig(tickets=tickets, seed=seed)
    generator = TicketGenerator(config)
    curated_of = {raw: code for (_, code), raw in aliases(drift=False).items()}
    sites = {s.code: s for s in generator.world.sites}
    elements = {e.serial: e for e in generator.world.elements}
    examples = []
    for document, _truth, _repair in generator:
        if not document.get("resolution"):
            continue
        raw = [*document.get("error_codes", ()), *(e.get("code") for e in document.get("events", ()))]
        code_map = {c: curated_of[c] for c in raw if c in curated_of}
        context: dict = {}
        site = sites.get(document.get("site") or "")
        if site is not None:
            context.update(climate=site.climate, tier=site.tier)
        element = elements.get(document.get("element") or "")
        if element is not None:
            context.update(
                kind=element.kind, vendor=element.vendor, software_version=element.software_version
            )
            opened = _parse(document["opened_at"]).date()
            context["age_years"] = max(0.0, (opened - element.installed_on).days / 365.25)
        codes = [code_map.get(c, c) for c in document.get("error_codes", ())]
        examples.append(
            {
                "label": document["resolution"],
                "opened_at": document["opened_at"],
                "first_code": codes[0] if codes else "",
                "all": serialize(document, context=context, code_map=code_map),
                "text": serialize(document, include_structure=False),
            }
        )
    examples.sort(key=lambda e: e["opened_at"])
    return examples


def time_split(examples: list[dict], eval_fraction: float = 0.2, validation_fraction: float = 0.1):
    n_eval = max(1, round(len(examples) * eval_fraction))
    train_all, held = examples[:-n_eval], examples[-n_eval:]
    n_val = max(1, round(len(train_all) * validation_fraction))
    train, validation = train_all[:-n_val], train_all[-n_val:]
    counts = Counter(e["label"] for e in train)
    labels = sorted(label for label, count in counts.items() if count >= MIN_CLASS_COUNT)
    keep = set(labels)
    train = [e for e in train if e["label"] in keep]
    validation = [e for e in validation if e["label"] in keep]
    return train, validation, held, labels


def _tfidf(train_texts, train_labels, eval_texts, labels):
    """ml.training.evaluation.tfidf_proba's model, with fitting and prediction timed apart."""
    import numpy as np

    from ml.serving.logistic import fit_logistic
    from ml.training.evaluation import baseline_vectorizer

    t0 = time.monotonic()
    vectorizer = baseline_vectorizer(len(labels))
    features = vectorizer.fit_transform(train_texts)
    classifier = fit_logistic(features, train_labels, max_iter=2000, class_weight="balanced", C=10.0)
    train_s = time.monotonic() - t0
    t0 = time.monotonic()
    raw = classifier.predict_proba(vectorizer.transform(eval_texts))
    predict_s = time.monotonic() - t0
    proba = np.zeros((len(eval_texts), len(labels)))
    index = {label: i for i, label in enumerate(labels)}
    for column, label in enumerate(classifier.classes_):
        if label in index:
            proba[:, index[label]] = raw[:, column]
    return train_s, predict_s, proba


def _row(name: str, y_true, proba, labels, train_s: float, predict_s: float) -> dict:
    from ml.training import evaluation

    metrics = evaluation.report(y_true, proba, labels)
    return {
        "name": name,
        "accuracy": round(metrics["accuracy"], 4),
        "macro_f1": round(metrics["macro_f1"], 4),
        "top3": round(metrics["top3"], 4),
        "train_s": round(train_s, 2),
        "ms_per_ticket": round(1000 * predict_s / max(1, len(y_true)), 3),
    }


def _served_row(tmp, transformer_s: float, train, validation, held, labels, info) -> dict:
    """The served predictor, fitted by ml.training.ensemble_fit.fit_serving from the fine-tuned encoder
    in ``tmp`` exactly as `train` does, then loaded and timed as ml.serving.inference serves it."""
    from types import SimpleNamespace

    from ml.serving import ensemble
    from ml.serving.inference import Predictor
    from ml.training import calibration, ensemble_fit

    def examples(part, offset):
        return [
            SimpleNamespace(ticket_id=offset + i, label=e["label"], text=e["all"]) for i, e in enumerate(part)
        ]

    t0 = time.monotonic()
    ensemble_fit.fit_serving(
        model_dir=tmp / "model",
        out_dir=tmp / ensemble.SERVING_DIR,
        split_parts={
            "train": examples(train, 0),
            "validation": examples(validation, len(train)),
            "eval": examples(held, len(train) + len(validation)),
        },
        labels=labels,
        max_length=info["max_length"],
    )
    fit_s = time.monotonic() - t0
    t0 = time.monotonic()
    predictor = Predictor(version_id=0, path=tmp, metrics={})
    proba = predictor.score_texts([e["all"] for e in held], features=False).proba
    predict_s = time.monotonic() - t0
    row = _row("served_all", [e["label"] for e in held], proba, labels, transformer_s + fit_s, predict_s)
    config = predictor.config
    row.update(weights=config["weights"], member_temperatures=config["member_temperatures"])
    # ECE on the held-out tickets before calibration, with the temperatures only, and as served.
    row["calibration"] = calibration.held_out_report(tmp / ensemble.SERVING_DIR)
    return row


def _report_every(steps: int, name: str):
    def report(progress: dict) -> None:
        if progress["step"] % steps == 0 or progress["step"] == progress["total_steps"]:
            print(
                f"  {name}: epoch {progress['epoch']}/{progress['epochs']} step {progress['step']}/"
                f"{progress['total_steps']} loss {progress['loss']:.3f} eta {progress['eta_s']:.0f}s",
                file=sys.stderr,
                flush=True,
            )

    return report


def run(args) -> dict:
    started = time.monotonic()
    examples = simulated_examples(args.tickets, args.seed)
    train, validation, held, labels = time_split(examples)
    print(
        f"{len(examples)} labelled tickets: train {len(train)}, validation {len(validation)}, "
        f"eval {len(held)}, {len(labels)} classes ({time.monotonic() - started:.1f}s to simulate)",
        file=sys.stderr,
    )
    rows = _baseline_rows(args, train, held, labels)
    rows += _transformer_rows(args, train, validation, held, labels)
    return {
        "tickets": args.tickets,
        "labelled": len(examples),
        "split": {
            "train": len(train),
            "validation": len(validation),
            "eval": len(held),
            "classes": len(labels),
        },
        "seed": args.seed,
        "date": date.today().isoformat(),
        "rows": rows,
    }


def _baseline_rows(args, train, held, labels) -> list[dict]:
    """The runbook's row and the TF-IDF rows asked for."""
    from ml.training import evaluation

    y_train, y_eval = [e["label"] for e in train], [e["label"] for e in held]
    rows = []
    if "runbook" in args.rows:
        t0 = time.monotonic()
        proba = evaluation.runbook_proba(
            [e["first_code"] for e in train], y_train, [e["first_code"] for e in held], labels
        )
        rows.append(_row("runbook", y_eval, proba, labels, 0.0, time.monotonic() - t0))
    for field in ("text", "all"):
        name = f"tfidf_{field}"
        if name not in args.rows:
            continue
        train_s, predict_s, proba = _tfidf(
            [e[field] for e in train], y_train, [e[field] for e in held], labels
        )
        rows.append(_row(name, y_eval, proba, labels, train_s, predict_s))
        print(f"  {name}: {rows[-1]}", file=sys.stderr)
    return rows


def _transformer_rows(args, train, validation, held, labels) -> list[dict]:
    """The fine-tuned transformers' rows asked for (and the served predictor's after transformer_all)."""
    from ml.training.fine_tuning import TrainingConfig

    config = TrainingConfig(
        epochs=args.epochs,
        max_length=args.max_length,
        batch_size=args.batch_size,
        max_train_samples=args.max_train_samples,
        seed=args.seed,
    )
    rows = []
    for field in ("text", "all"):
        if f"transformer_{field}" not in args.rows:
            continue
        sample = train
        if args.max_train_samples and len(train) > args.max_train_samples:
            import random

            sample = random.Random(args.seed).sample(train, args.max_train_samples)
        served = field == "all" and "served_all" in args.rows
        rows += _fine_tuned_rows(field, config, sample, validation, held, labels, served=served)
    return rows


def _fine_tuned_rows(field, config, sample, validation, held, labels, *, served: bool) -> list[dict]:
    """transformer_<field>'s row, fine-tuned on the sample; then served_all's when asked for."""
    import tempfile
    from pathlib import Path

    from ml.training.fine_tuning import fine_tune, predict_proba

    name = f"transformer_{field}"
    y_eval = [e["label"] for e in held]
    rows = []
    with tempfile.TemporaryDirectory(prefix="ablation-") as tmp:
        t0 = time.monotonic()
        info = fine_tune(
            train_texts=[e[field] for e in sample],
            train_labels=[e["label"] for e in sample],
            val_texts=[e[field] for e in validation],
            val_labels=[e["label"] for e in validation],
            labels=labels,
            config=config,
            output_dir=Path(tmp) / "model",
            progress=_report_every(100, name),
        )
        train_s = time.monotonic() - t0
        t0 = time.monotonic()
        proba = predict_proba(Path(tmp) / "model", [e[field] for e in held], max_length=info["max_length"])
        predict_s = time.monotonic() - t0
        rows.append(_row(name, y_eval, proba, labels, train_s, predict_s))
        # the plan and how it went: the speed probe's plan, the one made from real steps, the steps run
        rows[-1].update({key: info[key] for key in PLAN_KEYS})
        print(f"  {name}: {rows[-1]}", file=sys.stderr)
        if served:
            rows.append(_served_row(Path(tmp), train_s, sample, validation, held, labels, info))
            print(f"  served_all: {rows[-1]}", file=sys.stderr)
    return rows


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--epochs", type=int, default=0, help="0: chosen from the data (as `train`)")
    parser.add_argument("--max-length", type=int, default=0, help="0: chosen from the data (as `train`)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-train-samples", type=int, default=None)
    parser.add_argument(
        "--rows", nargs="+", choices=ROWS, default=list(ROWS), help="served_all brings transformer_all"
    )
    parser.add_argument("--json", metavar="OUT", help="Also write the result here.")
    args = parser.parse_args(argv)
    if "served_all" in args.rows and "transformer_all" not in args.rows:
        args.rows.append("transformer_all")  # served_all is built on its fine-tuned encoder
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ticketai.settings")
    import django

    django.setup()  # ml.training.fine_tuning reads TICKETAI_BASE_MODEL from the settings; no database is used
    result = run(args)
    print(f"{'model':<18}{'accuracy':>10}{'macro-F1':>10}{'top-3':>8}{'train s':>10}{'ms/ticket':>11}")
    for row in result["rows"]:
        print(
            f"{row['name']:<18}{row['accuracy']:>10.3f}{row['macro_f1']:>10.3f}{row['top3']:>8.3f}"
            f"{row['train_s']:>10.1f}{row['ms_per_ticket']:>11.3f}"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == "__main__":
    main()
