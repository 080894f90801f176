"""Shows the simulator has the properties the rest of the project relies on.

Trains simple, fast models on a time-based split (first 80% of labelled tickets by opened_at, last 20%
to test) and reports accuracy and macro-F1 for: the majority class, a runbook dispatcher (most frequent fix
for the ticket's first alarm), TF-IDF + logistic regression on text only, on codes only, and on text +
codes + events + site context, and the oracle (the correct fix for the hidden root cause, scored against
the noisy labels).

    python -m benchmarks.simulator_properties --tickets 20000 --json out.json
"""

import argparse
import csv
import json
import sys
import tempfile
import time
from collections import Counter
from datetime import date, datetime
from pathlib import Path

from repair_center.simulator import SimulationConfig, write_simulation

ROW_NAMES = ("majority", "runbook", "tfidf_text", "tfidf_codes", "tfidf_all", "oracle")
WHITESPACE_TOKENS = r"\S+"  # codes and event tokens are whitespace-separated words
BUCKETS = ((10, "0-10m"), (60, "10-60m"), (360, "1-6h"), (1440, "6-24h"), (10080, "1-7d"))


def _ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _bucket(minutes_before: float) -> str:
    for limit, name in BUCKETS:
        if minutes_before <= limit:
            return name
    return "7d+"


def _age_bucket(installed_on: str, opened: str) -> str:
    years = (date.fromisoformat(opened[:10]) - date.fromisoformat(installed_on)).days / 365.25
    return "age<3y" if years < 3 else "age3-6y" if years < 6 else "age6-10y" if years < 10 else "age10y+"


class Featuriser:
    """Turns a ticket document into the three views the models see; only what is known when it opens."""

    def __init__(self, directory: Path):
        self.alias = {}
        with (directory / "error_code_aliases.csv").open() as f:
            for row in csv.DictReader(f):
                self.alias[(row["vendor"], row["raw_code"])] = row["code"]
        with (directory / "sites.csv").open() as f:
            self.sites = {row["code"]: row for row in csv.DictReader(f)}
        with (directory / "elements.csv").open() as f:
            self.elements = {row["serial"]: row for row in csv.DictReader(f)}
        self.site_software = {
            e["site"]: e["software_version"] for e in self.elements.values() if e["kind"] == "baseband"
        }

    def code(self, raw: str | None, vendor: str) -> str:
        if not raw:
            return ""
        return self.alias.get((vendor, raw), raw)

    def views(self, doc: dict) -> tuple[str, list[str], str]:
        element = self.elements.get(doc["element"] or "", {})
        vendor = element.get("vendor", "")
        text = f"{doc['title']} {doc['description']}"
        codes = [self.code(c, vendor) for c in doc["error_codes"]]
        opened = _ts(doc["opened_at"])
        tokens = []
        for event in doc["events"]:
            before = (opened - _ts(event["at"])) / 60
            if before < 0:
                continue  # happened after the ticket opened: not known when a recommendation is made
            what = self.code(event["code"], vendor) or event["attrs"].get("type", "")
            tokens.append(f"{event['kind']}:{what}@{_bucket(before)}")
        site = self.sites.get(doc["site"] or "", {})
        context = [
            f"climate:{site.get('climate', '')}",
            f"tier:{site.get('tier', '')}",
            f"vendor:{vendor}",
            f"sw:{self.site_software.get(doc['site'], '')}",
            _age_bucket(element["installed_on"], doc["opened_at"]) if element else "age:unknown",
        ]
        structured = " ".join(["|"] + [f"code:{c}" for c in codes] + ["|"] + tokens + ["|"] + context)
        return text, codes, structured


def _scores(y_true, y_pred) -> tuple[float, float]:
    from sklearn.metrics import accuracy_score, f1_score

    return round(float(accuracy_score(y_true, y_pred)), 4), round(
        float(f1_score(y_true, y_pred, average="macro", zero_division=0)), 4
    )


def evaluate(directory: Path) -> dict:
    """Score every baseline on the simulation written in ``directory``."""
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer

    from ml.serving.logistic import fit_logistic

    featuriser = Featuriser(directory)
    rows = []
    with (directory / "tickets.jsonl").open() as tickets, (directory / "truth.jsonl").open() as truths:
        for line, truth_line in zip(tickets, truths, strict=True):
            doc, truth = json.loads(line), json.loads(truth_line)
            if not doc["resolution"]:
                continue
            text, codes, structured = featuriser.views(doc)
            rows.append(
                (doc["opened_at"], text, codes, structured, doc["resolution"], truth["correct_resolution"])
            )
    rows.sort(key=lambda row: row[0])
    cut = int(len(rows) * 0.8)
    train, test = rows[:cut], rows[cut:]
    y_train = [r[4] for r in train]
    y_test = [r[4] for r in test]
    results = {}

    majority = Counter(y_train).most_common(1)[0][0]
    results["majority"] = _scores(y_test, [majority] * len(test))

    by_code: dict[str, Counter] = {}
    for row in train:
        by_code.setdefault(row[2][0] if row[2] else "", Counter())[row[4]] += 1
    runbook = {code: counts.most_common(1)[0][0] for code, counts in by_code.items()}
    results["runbook"] = _scores(y_test, [runbook.get(r[2][0] if r[2] else "", majority) for r in test])

    def fit(train_matrix, test_matrix):
        model = fit_logistic(train_matrix, y_train, max_iter=400, C=4.0)
        return _scores(y_test, model.predict(test_matrix))

    text_vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, max_features=50_000)
    text_train = text_vec.fit_transform([r[1] for r in train])
    text_test = text_vec.transform([r[1] for r in test])
    results["tfidf_text"] = fit(text_train, text_test)

    code_vec = TfidfVectorizer(token_pattern=WHITESPACE_TOKENS, lowercase=False, ngram_range=(1, 2))
    results["tfidf_codes"] = fit(
        code_vec.fit_transform([" ".join(r[2]) for r in train]),
        code_vec.transform([" ".join(r[2]) for r in test]),
    )

    # Bigrams of the ordered event tokens carry the order; the @bucket suffix carries the timing.
    all_vec = TfidfVectorizer(
        token_pattern=WHITESPACE_TOKENS, lowercase=False, ngram_range=(1, 2), min_df=2, sublinear_tf=True
    )
    structured_train = all_vec.fit_transform([r[3] for r in train])
    structured_test = all_vec.transform([r[3] for r in test])
    results["tfidf_all"] = fit(
        hstack([text_train, structured_train]).tocsr(), hstack([text_test, structured_test]).tocsr()
    )

    results["oracle"] = _scores(y_test, [r[5] for r in test])
    return {
        "tickets": len(rows),
        "rows": [
            {"name": name, "accuracy": results[name][0], "macro_f1": results[name][1]} for name in ROW_NAMES
        ],
    }


def run(*, tickets: int, seed: int = 0, directory: Path | None = None) -> dict:
    """Simulate ``tickets`` tickets (into ``directory`` or a temporary one) and evaluate them."""
    if directory is not None:
        write_simulation(SimulationConfig(tickets=tickets, seed=seed), directory)
        return evaluate(Path(directory))
    with tempfile.TemporaryDirectory(prefix="ticketai-sim-") as tmp:
        write_simulation(SimulationConfig(tickets=tickets, seed=seed), tmp)
        return evaluate(Path(tmp))


def table(result: dict) -> str:
    lines = ["| model | accuracy | macro-F1 |", "|---|---|---|"]
    lines += [f"| {row['name']} | {row['accuracy']:.3f} | {row['macro_f1']:.3f} |" for row in result["rows"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="write the result here")
    parser.add_argument("--out", type=Path, help="keep the simulated files in this directory")
    args = parser.parse_args(argv)
    started = time.monotonic()
    result = run(tickets=args.tickets, seed=args.seed, directory=args.out)
    print(table(result))
    print(f"\n{result['tickets']} labelled tickets, {time.monotonic() - started:.0f}s", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
