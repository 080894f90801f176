"""The data-quality gate: checks a training set before any compute is spent on it.

It tells broken data from unusual data. A broken export (no labels, one class, too few examples,
a text column that was there and is gone) stops training with a readable report stored on the
TrainingRun. Unusual but normal data (codes-only or text-only tickets, vendor codes nobody has
curated yet, inputs that repeat) trains, with warnings that say what to curate. Any failing check
can be overridden by its key (``train --allow duplicates``); the override is recorded on the run.
Classes below the minimum count do not fail the gate: long-tailed data always has some. A class with
at least ``min_train_count`` examples is trained on with every one of them, and none is held out: a
resolution an operator has used three times can still be recommended, but three tickets cannot
measure it. A class below that (one ticket: a typo as often as a fix) is left out. Both are listed.
"""

from collections import Counter, defaultdict
from collections.abc import Collection
from dataclasses import asdict, dataclass, field

from ml.core.dataset import MIN_HELD_OUT_COUNT, Dataset, Example

# Document fields that are the ticket's identity, outcome or timing, not what the model should read.
_NOT_INPUT = {"source", "external_id", "status", "resolution", "resolution_notes", "opened_at", "resolved_at"}
CURATION_LIST_SIZE = 20


@dataclass(frozen=True, slots=True)
class GateConfig:
    min_examples: int = 20
    min_classes: int = 2
    min_class_count: int = MIN_HELD_OUT_COUNT  # below this a class is not held out (to validate, evaluate)
    min_train_count: int = 2  # below this a class is left out of training (at most min_class_count)
    min_label_coverage: float = 0.05
    # "The text column was lost": older tickets mostly had text and the newest mostly have none.
    min_text_share_before: float = 0.5
    max_text_share_after: float = 0.1
    max_unmapped_code_rate: float = 0.5
    max_duplicate_rate: float = 0.3


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    value: float
    limit: float
    message: str
    key: str = ""
    stops: bool = True  # False: a failing check is a warning and training goes on

    @property
    def verdict(self) -> str:
        return "ok" if self.ok else ("FAIL" if self.stops else "WARN")


CHECK_KEYS = (
    "label-coverage",
    "enough-examples",
    "enough-classes",
    "text-lost",
    "unmapped-codes",
    "duplicates",
)


@dataclass(slots=True)
class QualityReport:
    checks: list[Check]
    rare_labels: dict[str, int] = field(default_factory=dict)  # trained on, never held out
    left_out_labels: dict[str, int] = field(default_factory=dict)  # too few to train on
    label_counts: dict[str, int] = field(default_factory=dict)
    allowed: list[str] = field(default_factory=list)  # keys of checks the person running it overrode
    curation: dict[str, int] = field(default_factory=dict)  # unmapped raw code -> occurrences

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok and c.stops and c.key not in self.allowed]

    @property
    def overridden(self) -> list[Check]:
        return [c for c in self.checks if not c.ok and c.key in self.allowed]

    @property
    def passed(self) -> bool:
        return not self.failures

    def text(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        lines = [f"Data-quality gate {verdict}:"]
        for c in self.checks:
            mark = "ALLOWED" if c in self.overridden and c.stops else c.verdict
            lines.append(f"  [{mark}] {c.name}: {c.message}")
        if self.overridden:
            lines.append(f"  [note] overridden (--allow): {', '.join(c.key for c in self.overridden)}")
        if self.rare_labels:
            lines.append(f"  [note] trained on, too few to hold out: {_counted(self.rare_labels)}")
        if self.left_out_labels:
            lines.append(f"  [note] left out of training, too few examples: {_counted(self.left_out_labels)}")
        if self.failures:
            keys = " ".join(f"--allow {c.key}" for c in self.failures)
            lines.append(f"  To train anyway: {keys}")
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {
            "passed": self.passed,
            "checks": [{**asdict(c), "verdict": c.verdict} for c in self.checks],
            "allowed": list(self.allowed),
            "overridden": [c.key for c in self.overridden],
            "warnings": [c.key for c in self.checks if not c.ok and not c.stops],
            "curation": self.curation,
            "rare_labels": self.rare_labels,
            "left_out_labels": self.left_out_labels,
            "label_counts": self.label_counts,
            "text": self.text(),
        }


def _counted(labels: dict[str, int]) -> str:
    return ", ".join(f"{label} ({count})" for label, count in sorted(labels.items()))


def check_allow(keys: Collection[str]) -> list[str]:
    """The keys of checks to override, validated; raises ValueError naming an unknown one."""
    unknown = sorted(set(keys) - set(CHECK_KEYS))
    if unknown:
        raise ValueError(f"unknown gate check(s): {', '.join(unknown)}; known: {', '.join(CHECK_KEYS)}")
    return sorted(set(keys))


def _rate(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _text_lost(examples: list[Example], config: GateConfig) -> Check:
    """Per source (one export may be codes-only and another text-only): did the newest quarter of a
    source's tickets lose the text its older ones had?"""
    by_source: dict[str, list[Example]] = defaultdict(list)
    for e in sorted(examples, key=lambda e: e.ticket_id):  # import order
        by_source[str(e.document.get("source") or "")].append(e)
    lost, newest_shares = [], []
    for source, ordered in sorted(by_source.items()):
        cut = max(1, len(ordered) * 3 // 4)
        before, after = ordered[:cut], ordered[cut:]
        share_before = _rate(sum(e.has_text for e in before), len(before))
        share_after = _rate(sum(e.has_text for e in after), len(after))
        if after and share_before >= config.min_text_share_before:
            newest_shares.append(share_after)
        if (
            after
            and share_before >= config.min_text_share_before
            and share_after <= config.max_text_share_after
        ):
            lost.append((source, share_before, share_after))
    share = _rate(sum(e.has_text for e in examples), len(examples))
    newest = min(newest_shares) if newest_shares else share
    if lost:
        source, share_before, share_after = lost[0]
        message = (
            f"{share_before:.0%} of the older tickets of {source!r} have a title or description but only "
            f"{share_after:.0%} of its newest quarter: a text column was probably lost in a later import "
            "(check its --map)"
        )
    elif share == 0:
        message = "no ticket has a title or description: a codes-only set, learnt from its structure"
    elif share == 1:
        message = "every ticket has a title or description"
    else:
        message = f"{share:.1%} of tickets have a title or description"
    # Measured as the rule reads it: the share with text of the newest quarter (the lowest of the
    # sources), which fails at or below the limit when the older tickets had text.
    return Check(
        "newest tickets with text", not lost, newest, config.max_text_share_after, message, "text-lost"
    )


def _unmapped(examples: list[Example], config: GateConfig) -> tuple[Check, dict[str, int]]:
    raw: Counter[str] = Counter()
    for e in examples:
        codes = [
            *(e.document.get("error_codes") or ()),
            *(ev.get("code") for ev in e.document.get("events") or ()),
        ]
        raw.update(c for c in codes if c and c not in e.code_map)
    occurrences = sum(e.code_count for e in examples)
    rate = _rate(sum(e.unmapped_count for e in examples), occurrences)
    curation = dict(raw.most_common(CURATION_LIST_SIZE))
    ok = rate <= config.max_unmapped_code_rate
    message = f"{rate:.1%} of {occurrences} code occurrences map to no curated code"
    if not ok:
        listed = ", ".join(f"{code} ({n})" for code, n in curation.items())
        message += (
            f" (above {config.max_unmapped_code_rate:.0%}; normal for a new source: the model learns them as "
            f"they are). Curate aliases in admin, most frequent first: {listed}"
        )
    check = Check(
        "unmapped-code rate", ok, rate, config.max_unmapped_code_rate, message, "unmapped-codes", False
    )
    return check, curation


def _flatten(document: dict) -> dict[str, str]:
    """Document fields as comparable strings, attributes and event attributes one by one."""
    flat = {}
    for name, value in document.items():
        if name in _NOT_INPUT:
            continue
        if name == "attributes" and isinstance(value, dict):
            flat.update({f"attributes.{k}": repr(v) for k, v in value.items()})
        elif name == "events" and isinstance(value, list):
            flat["events"] = repr([(e.get("kind"), e.get("code")) for e in value])
            for i, event in enumerate(value):
                for k, v in (event.get("attrs") or {}).items():
                    flat[f"events[].attrs.{k}"] = flat.get(f"events[].attrs.{k}", "") + f"{i}:{v!r};"
        else:
            flat[name] = repr(value)
    return flat


def _duplicates(examples: list[Example], config: GateConfig) -> Check:
    groups: dict[str, list[Example]] = defaultdict(list)
    for e in examples:
        groups[e.text].append(e)
    repeated = [members for members in groups.values() if len(members) > 1]
    duplicates = sum(len(members) - 1 for members in repeated)
    conflicting = sum(1 for members in repeated if len({e.label for e in members}) > 1)
    rate = _rate(duplicates, len(examples))
    ok = rate <= config.max_duplicate_rate
    message = (
        f"{duplicates} examples repeat another's input exactly ({rate:.1%}; at most "
        f"{config.max_duplicate_rate:.0%}); {conflicting} repeated inputs carry different labels"
    )
    if not ok:
        telling: Counter[str] = Counter()
        for members in repeated[:500]:
            flats = [_flatten(e.document) for e in members]
            names = set().union(*flats)
            telling.update(n for n in names if len({f.get(n) for f in flats}) > 1)
        if telling:
            fields = ", ".join(f"{name} ({n} groups)" for name, n in telling.most_common(8))
            message += f". Fields that differ within the repeats and would tell them apart: {fields}"
        else:
            message += (
                ". The repeats are identical in every field: the export probably holds the same rows twice"
            )
    return Check("duplicate rate", ok, rate, config.max_duplicate_rate, message, "duplicates", False)


def check_quality(
    dataset: Dataset, config: GateConfig | None = None, *, allow: Collection[str] = ()
) -> QualityReport:
    """Label coverage, class counts, lost text, unmapped codes and duplicates, in one report."""
    config = config or GateConfig()
    examples = dataset.examples
    counts = Counter(e.label for e in examples)
    rare = {label: n for label, n in counts.items() if config.min_train_count <= n < config.min_class_count}
    left_out = {label: n for label, n in counts.items() if n < config.min_train_count}
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
            "label-coverage",
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
            "enough-examples",
        )
    )
    checks.append(
        Check(
            "enough classes",
            len(usable) >= config.min_classes,
            len(usable),
            config.min_classes,
            f"{len(usable)} classes with at least {config.min_class_count} examples "
            f"(need {config.min_classes}); {len(rare) + len(left_out)} below that",
            "enough-classes",
        )
    )
    checks.append(_text_lost(examples, config))
    unmapped, curation = _unmapped(examples, config)
    checks.append(unmapped)
    checks.append(_duplicates(examples, config))
    return QualityReport(
        checks=checks,
        rare_labels=rare,
        left_out_labels=left_out,
        label_counts=dict(counts),
        allowed=check_allow(allow),
        curation=curation,
    )
