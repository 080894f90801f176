"""The data-quality gate: checks a training set before any compute is spent on it.

A failing gate stops training with a readable report (stored on the TrainingRun), never a crash.
Classes below the minimum count do not fail the gate: long-tailed data always has some. They are
left out of training (listed in the report) and the recommender abstains on them.
"""

from collections import Counter
from dataclasses import asdict, dataclass, field

from ml.core.dataset import Dataset


@dataclass(frozen=True, slots=True)
class GateConfig:
    min_examples: int = 20
    min_classes: int = 2
    min_class_count: int = 5
    min_label_coverage: float = 0.05
    max_empty_text_rate: float = 0.9
    max_unmapped_code_rate: float = 0.5
    max_duplicate_rate: float = 0.3


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    value: float
    limit: float
    message: str


@dataclass(slots=True)
class QualityReport:
    checks: list[Check]
    rare_labels: dict[str, int] = field(default_factory=dict)
    label_counts: dict[str, int] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [check for check in self.checks if not check.ok]

    def text(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        lines = [f"Data-quality gate {verdict}:"]
        lines += [f"  [{'ok' if c.ok else 'FAIL'}] {c.name}: {c.message}" for c in self.checks]
        if self.rare_labels:
            rare = ", ".join(f"{label} ({count})" for label, count in sorted(self.rare_labels.items()))
            lines.append(f"  [note] left out of training, too few examples: {rare}")
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {
            "passed": self.passed,
            "checks": [asdict(c) for c in self.checks],
            "rare_labels": self.rare_labels,
            "label_counts": self.label_counts,
            "text": self.text(),
        }


def _rate(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def check_quality(dataset: Dataset, config: GateConfig | None = None) -> QualityReport:
    """Label coverage, class counts, empty-text, unmapped-code and duplicate rates, in one report."""
    config = config or GateConfig()
    examples = dataset.examples
    counts = Counter(e.label for e in examples)
    rare = {label: n for label, n in counts.items() if n < config.min_class_count}
    usable = {label: n for label, n in counts.items() if n >= config.min_class_count}
    n_usable = sum(usable.values())
    checks = []

    coverage = _rate(dataset.labelled, dataset.total_tickets)
    checks.append(
        Check(
            "label coverage",
            coverage >= config.min_label_coverage,
            coverage,
            config.min_label_coverage,
            f"{dataset.labelled} of {dataset.total_tickets} tickets carry a resolution ({coverage:.1%}; "
            f"need {config.min_label_coverage:.0%})",
        )
    )
    checks.append(
        Check(
            "enough examples",
            n_usable >= config.min_examples,
            n_usable,
            config.min_examples,
            f"{n_usable} usable examples in classes with at least {config.min_class_count} "
            f"(need {config.min_examples})",
        )
    )
    checks.append(
        Check(
            "enough classes",
            len(usable) >= config.min_classes,
            len(usable),
            config.min_classes,
            f"{len(usable)} classes with at least {config.min_class_count} examples "
            f"(need {config.min_classes}); {len(rare)} below that",
        )
    )
    empty = _rate(sum(not e.has_text for e in examples), len(examples))
    checks.append(
        Check(
            "empty-text rate",
            empty <= config.max_empty_text_rate,
            empty,
            config.max_empty_text_rate,
            f"{empty:.1%} of examples have no title or description "
            f"(at most {config.max_empty_text_rate:.0%}; a lost text column shows up here)",
        )
    )
    codes = sum(e.code_count for e in examples)
    unmapped = _rate(sum(e.unmapped_count for e in examples), codes)
    checks.append(
        Check(
            "unmapped-code rate",
            unmapped <= config.max_unmapped_code_rate,
            unmapped,
            config.max_unmapped_code_rate,
            f"{unmapped:.1%} of {codes} code occurrences map to no curated code "
            f"(at most {config.max_unmapped_code_rate:.0%}; curate aliases in admin)",
        )
    )
    texts = Counter(e.text for e in examples)
    duplicates = sum(n - 1 for n in texts.values())
    labels_per_text: dict[str, set[str]] = {}
    for e in examples:
        labels_per_text.setdefault(e.text, set()).add(e.label)
    conflicting = sum(1 for labels in labels_per_text.values() if len(labels) > 1)
    rate = _rate(duplicates, len(examples))
    checks.append(
        Check(
            "duplicate rate",
            rate <= config.max_duplicate_rate,
            rate,
            config.max_duplicate_rate,
            f"{duplicates} examples repeat another's input exactly ({rate:.1%}; at most "
            f"{config.max_duplicate_rate:.0%}); {conflicting} repeated inputs carry different labels",
        )
    )
    return QualityReport(checks=checks, rare_labels=rare, label_counts=dict(counts))
