"""How long the lexical member takes to fit on a many-class export, and what judging its class
weightings costs.

    python -m benchmarks.lexical_fit --tickets 6000 --classes 120 --json out.json

An operator's resolution codes can run to hundreds. There is no public export with that many
classes, so the texts are it_tickets' (benchmarks/data/real/), repeated with their words shuffled
until there are ``--tickets``, and each topic is split into ``--classes`` / 8 classes by the
ticket's first word: classes with structure a model can learn, skewed as the topics are.

The product's path is ``lexical.fit_lexical`` with a validation part of 20% (as ``train`` judges
the weightings on more than ``CV_BELOW_VALIDATION`` tickets): the three class weightings fitted one
after another, each from the last (``_chained_fits``), the best on validation stored; then the
refit on every ticket with the weighting chosen, which ``train`` makes once everything is measured,
from zero and from the member measured (``start``). For reference, the three weightings fitted
from zero and chained, on train's features, with their L-BFGS iterations.

Output: {"tickets", "classes", "features", "fit_lexical_s", "chosen", "refit_s": {"cold",
"from_member"}, "cold": {scheme: {"s", "iterations"}}, "chained": {scheme: {"s", "iterations"}},
"cold_total_s", "chained_total_s"}.
"""

import argparse
import csv
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent / "data" / "real" / "it_tickets.csv"


def many_classes(tickets: int, classes: int) -> tuple[list[str], list[str]]:
    """(texts, labels): it_tickets' texts repeated with shuffled words, each topic split by the
    ticket's first word into ``classes`` // 8 classes."""
    with DATA.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    rng = np.random.default_rng(0)
    split = max(1, classes // 8)
    texts, labels = [], []
    while len(texts) < tickets:
        for row in rows[: tickets - len(texts)]:
            words = row["Document"].split()
            first = words[0] if words else ""
            bucket = int(hashlib.sha256(first.encode()).hexdigest(), 16) % split
            texts.append(" ".join(rng.permutation(words)))
            labels.append(f"{row['Topic_group']}-{bucket}")
    return texts, labels


def run(tickets: int, classes: int) -> dict:
    from ml.serving.logistic import class_weighting, fit_logistic
    from ml.training import lexical

    texts, labels = many_classes(tickets, classes)
    cut = int(len(texts) * 0.8)
    train, train_labels = texts[:cut], labels[:cut]
    known = sorted(set(train_labels))
    held = [(t, y) for t, y in zip(texts[cut:], labels[cut:], strict=True) if y in known]
    validation = ([t for t, _ in held], [y for _, y in held])
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        out_path = Path(tmp) / "lexical.npz"
        member = lexical.fit_lexical(train, train_labels, known, out_path, validation=validation)
        fit_lexical_s = time.perf_counter() - started
        # The refit on every ticket (train's _refit_on_all), from zero and from the member measured.
        everything, every_label = train + validation[0], train_labels + validation[1]
        refit_s = {}
        for mode, start in (("cold", None), ("from_member", member)):
            started = time.perf_counter()
            lexical.fit_lexical(
                everything, every_label, known, out_path, class_weight=member.class_weight, start=start
            )
            refit_s[mode] = round(time.perf_counter() - started, 1)
    features, _ = lexical._lexical_features(train, len(known))
    out: dict = {"cold": {}, "chained": {}}
    for mode in ("cold", "chained"):
        last = None
        for scheme in lexical.CLASS_WEIGHTINGS:
            started = time.perf_counter()
            last = fit_logistic(
                features,
                train_labels,
                max_iter=2000,
                C=10.0,
                class_weight=class_weighting(train_labels, scheme),
                start=last if mode == "chained" else None,
            )
            seconds = round(time.perf_counter() - started, 1)
            out[mode][scheme] = {"s": seconds, "iterations": int(last.n_iter_[0])}
    return {
        "tickets": tickets,
        "classes": len(known),
        "features": features.shape[1],
        "fit_lexical_s": round(fit_lexical_s, 1),
        "chosen": member.class_weight,
        "refit_s": refit_s,
        **out,
        **{f"{mode}_total_s": round(sum(r["s"] for r in fits.values()), 1) for mode, fits in out.items()},
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=6000)
    parser.add_argument("--classes", type=int, default=120)
    parser.add_argument("--json", dest="json_out")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    results = run(args.tickets, args.classes)
    text = json.dumps(results, indent=2)
    if args.json_out:
        Path(args.json_out).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
