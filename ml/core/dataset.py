"""Training sets from the database: labelled tickets as model input, a fingerprint, and a split (by
time when tickets carry open times, else stratified random with a fixed seed).

Tickets are read only through repair_center.selectors. Each becomes an Example whose ``text`` is
ml.core.serialization.serialize of its canonical document, with raw vendor codes shown as their curated
codes and the site and unit as context, so the encoder sees codes and ordered, timed events, not
only words.
"""

import hashlib
import random
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from ml.core.serialization import SERIALIZATION_VERSION, serialize
from ml.models import SiteComputeProfile
from repair_center import selectors
from repair_center.models import RepairRecord

# A hardware swap only teaches "replace X" when the returned unit really was faulty.
_FAULTY = {RepairRecord.Finding.CONFIRMED_FAULT, RepairRecord.Finding.PHYSICAL_DAMAGE}


@dataclass(frozen=True, slots=True)
class Example:
    ticket_id: int
    label: str
    text: str
    opened_at: datetime
    updated_at: datetime
    first_code: str
    has_text: bool
    code_count: int
    unmapped_count: int
    document: dict = field(repr=False, compare=False)
    context: dict = field(repr=False, compare=False)
    code_map: dict = field(repr=False, compare=False)
    dated: bool = True  # False when the source gave no open time (opened_at is then the import time)


@dataclass(slots=True)
class Dataset:
    examples: list[Example]
    excluded_no_fault_found: list[int]
    total_tickets: int
    # Labelled tickets of sites whose data must stay local (SiteComputeProfile.data_must_stay_local):
    # central never trains on them, as the placement of such a site promises.
    excluded_kept_local: list[int] = field(default_factory=list)

    @property
    def labelled(self) -> int:
        return len(self.examples) + len(self.excluded_no_fault_found) + len(self.excluded_kept_local)


def is_no_fault_found(findings: Collection[str]) -> bool:
    """True when the repair centre found nothing wrong with any unit swapped on the ticket.

    Such a ticket's resolution ("replace the unit") did not fix the fault: the alarm cleared for
    another reason (a reseat, a reboot, the weather). Teaching it as the right fix would make the
    model recommend needless hardware swaps, the costliest mistake in the field, so the ticket is
    left out of training and evaluation. A ticket where another returned unit did have a fault
    stays in: that swap was the fix.
    """
    return RepairRecord.Finding.NO_FAULT_FOUND in findings and not (set(findings) & _FAULTY)


def _age_years(ticket) -> float | None:
    if not (ticket.element_id and ticket.element.installed_on and ticket.opened_at):
        return None
    return max(0.0, (ticket.opened_at.date() - ticket.element.installed_on).days / 365.25)


def ticket_context(ticket) -> dict:
    """Site and unit context for serialize()."""
    context: dict = {}
    if ticket.site_id:
        context.update(region=ticket.site.region, climate=ticket.site.climate, tier=ticket.site.tier)
    if ticket.element_id:
        element = ticket.element
        context.update(kind=element.kind, vendor=element.vendor, software_version=element.software_version)
        context["age_years"] = _age_years(ticket)
    return context


def ticket_code_map(ticket) -> dict[str, str]:
    """Raw code -> curated code, as the ingest mapped this ticket's codes (vendor aliases applied)."""
    mapping = {}
    for row in [*ticket.codes.all(), *ticket.events.all()]:
        if row.raw_code and row.error_code_id:
            mapping[row.raw_code] = row.error_code.code
    return mapping


def example_from_ticket(ticket) -> Example:
    """Expects a ticket from selectors.labelled_tickets (related rows prefetched)."""
    document = selectors.ticket_document(ticket)
    context = ticket_context(ticket)
    code_map = ticket_code_map(ticket)
    codes = [c.raw_code for c in ticket.codes.all()]
    event_codes = [e.raw_code for e in ticket.events.all() if e.raw_code]
    mapped = sum(1 for c in [*ticket.codes.all(), *ticket.events.all()] if c.raw_code and c.error_code_id)
    first = codes[0] if codes else (event_codes[0] if event_codes else "")
    return Example(
        ticket_id=ticket.pk,
        label=ticket.resolution.code,
        text=serialize(document, context=context, code_map=code_map),
        opened_at=ticket.opened_at or ticket.created_at,
        updated_at=ticket.updated_at,
        first_code=code_map.get(first, first),
        has_text=bool(ticket.title.strip() or ticket.description.strip()),
        code_count=len(codes) + len(event_codes),
        unmapped_count=len(codes) + len(event_codes) - mapped,
        document=document,
        context=context,
        code_map=code_map,
        dated=ticket.opened_at is not None,
    )


def build_dataset(*, sources: Collection[str] = ()) -> Dataset:
    """Every labelled ticket (optionally of some sources) as an Example, minus no-fault-found swaps
    and the tickets of sites whose data must stay local."""
    findings = selectors.repair_findings_by_ticket()
    local = set(
        SiteComputeProfile.objects.filter(data_must_stay_local=True).values_list("site_id", flat=True)
    )
    examples, excluded, kept_local = [], [], []
    for ticket in selectors.labelled_tickets(sources=sources).iterator(chunk_size=2000):
        if ticket.site_id in local:
            kept_local.append(ticket.pk)
        elif is_no_fault_found(findings.get(ticket.pk, ())):
            excluded.append(ticket.pk)
        else:
            examples.append(example_from_ticket(ticket))
    return Dataset(
        examples=examples,
        excluded_no_fault_found=sorted(excluded),
        total_tickets=selectors.ticket_count(sources=sources),
        excluded_kept_local=sorted(kept_local),
    )


def fingerprint(dataset: Dataset) -> str:
    """sha256 of every example's id, label, last modification and model input, plus the exclusions.

    The input text is in the hash because a curated alias or a site's climate changes what the
    model sees without touching the ticket's updated_at.
    """
    digest = hashlib.sha256(f"serialization-v{SERIALIZATION_VERSION}\n".encode())
    for example in sorted(dataset.examples, key=lambda e: e.ticket_id):
        text_hash = hashlib.sha256(example.text.encode()).hexdigest()
        line = f"{example.ticket_id}\t{example.label}\t{example.updated_at.isoformat()}\t{text_hash}\n"
        digest.update(line.encode())
    digest.update(("excluded\t" + ",".join(map(str, dataset.excluded_no_fault_found))).encode())
    return digest.hexdigest()


@dataclass(slots=True)
class Split:
    method: str  # "time", "stratified" (newest of each class) or "random" (stratified, seeded)
    train: list[Example]
    validation: list[Example]
    eval: list[Example]
    cutoff: datetime | None = None
    reason: str = ""
    seed: int | None = None

    def summary(self) -> dict:
        eval_ids = ",".join(str(e.ticket_id) for e in sorted(self.eval, key=lambda e: e.ticket_id))
        return {
            "method": self.method,
            "reason": self.reason,
            "cutoff": self.cutoff.isoformat() if self.cutoff else None,
            "seed": self.seed,
            "train": len(self.train),
            "validation": len(self.validation),
            "eval": len(self.eval),
            "eval_ids_sha256": hashlib.sha256(eval_ids.encode()).hexdigest(),
        }


def _by_time(examples: Iterable[Example]) -> list[Example]:
    return sorted(examples, key=lambda e: (e.opened_at, e.ticket_id))


def _newest_per_class(examples: Sequence[Example], fraction: float) -> tuple[list[Example], list[Example]]:
    """Hold out the newest ``fraction`` of each class (never a class's only example)."""
    groups: dict[str, list[Example]] = defaultdict(list)
    for example in _by_time(examples):
        groups[example.label].append(example)
    kept, held = [], []
    for members in groups.values():
        count = _held_count(len(members), fraction)
        kept.extend(members[: len(members) - count])
        held.extend(members[len(members) - count :])
    return _by_time(kept), _by_time(held)


def _held_count(size: int, fraction: float) -> int:
    count = min(size - 1, round(size * fraction))
    return max(count, 1) if size >= 2 and fraction > 0 else max(count, 0)


def _random_per_class(
    examples: Sequence[Example], fraction: float, rng: random.Random
) -> tuple[list[Example], list[Example]]:
    """Hold out a random ``fraction`` of each class (never a class's only example)."""
    groups: dict[str, list[Example]] = defaultdict(list)
    for example in sorted(examples, key=lambda e: e.ticket_id):
        groups[example.label].append(example)
    kept, held = [], []
    for label in sorted(groups):
        members = groups[label]
        rng.shuffle(members)
        count = _held_count(len(members), fraction)
        kept.extend(members[: len(members) - count])
        held.extend(members[len(members) - count :])
    return sorted(kept, key=lambda e: e.ticket_id), sorted(held, key=lambda e: e.ticket_id)


def usable_times(examples: Sequence[Example], *, min_dated_share: float = 0.9) -> str:
    """'' when the examples' open times can order them, else why not (for the split's reason)."""
    dated = [e for e in examples if e.dated]
    if len(dated) < min_dated_share * len(examples):
        share = len(dated) / len(examples) if examples else 0.0
        return f"only {share:.0%} of tickets carry an open time"
    if len({e.opened_at for e in dated}) < 2:
        return "every ticket has the same open time"
    return ""


# A class with fewer examples is trained on (from two) but none is held out for validation or
# evaluation: the quality gate's default (ml.training.quality.GateConfig.min_class_count), read by
# serving too (ml.serving.track_record), which cannot import training.
MIN_HELD_OUT_COUNT = 5


def split_examples(
    examples: Sequence[Example],
    *,
    eval_fraction: float = 0.2,
    validation_fraction: float = 0.1,
    min_time_split: int = 200,
    min_seen_share: float = 0.9,
    seed: int = 0,
    min_validation: int = 0,
) -> Split:
    """Train on older tickets and evaluate on newer ones, as in production.

    Without usable open times (an export with no dates: row order says nothing about time) the
    split is stratified random with ``seed``. Otherwise it falls back to holding out the newest
    tickets of each class when the set is smaller than ``min_time_split`` or when the newest
    tickets are mostly of classes the older ones never show (a time split would then measure
    nothing but the label shift). Validation, for early stopping and choosing the mix, is carved
    from the training part the same way: ``validation_fraction`` of it, raised towards
    ``min_validation`` tickets up to a quarter of it. The evaluation part is never seen.
    """
    undated = usable_times(examples)
    if undated:
        rng = random.Random(seed)
        train_all, held = _random_per_class(examples, eval_fraction, rng)
        fraction = _validation_share(len(train_all), validation_fraction, min_validation)
        train, validation = _random_per_class(train_all, fraction, rng)
        return Split(
            method="random", train=train, validation=validation, eval=held, reason=undated, seed=seed
        )
    ordered = _by_time(examples)
    n_eval = max(1, round(len(ordered) * eval_fraction))
    method, reason, cutoff = "stratified", f"fewer than {min_time_split} examples", None
    if len(ordered) >= min_time_split:
        train_all, held = ordered[:-n_eval], ordered[-n_eval:]
        seen = {e.label for e in train_all}
        share = sum(e.label in seen for e in held) / len(held)
        if share >= min_seen_share and len(seen) >= 2:
            method, reason, cutoff = "time", "", held[0].opened_at
        else:
            reason = f"only {share:.0%} of the newest tickets have a label seen before them"
    if method == "stratified":
        train_all, held = _newest_per_class(ordered, eval_fraction)
    fraction = _validation_share(len(train_all), validation_fraction, min_validation)
    train, validation = _newest_per_class(train_all, fraction)
    return Split(method=method, train=train, validation=validation, eval=held, cutoff=cutoff, reason=reason)


def train_also(split: Split, examples: Iterable[Example]) -> Split:
    """The split with ``examples`` added to its training part and to no other: tickets of classes too
    rare to measure (the quality gate's ``rare_labels``), which the model should still learn. The
    training part keeps its order (by time, or by ticket for a random split)."""
    train = [*split.train, *examples]
    ordered = sorted(train, key=lambda e: e.ticket_id) if split.method == "random" else _by_time(train)
    return replace(split, train=ordered)


def sample_keeping_labels(examples: Sequence[Example], size: int, seed: int) -> list[Example]:
    """``size`` of ``examples`` at random (``random.Random(seed).sample``), with every label still in
    it while there is room: a class drawn out entirely takes the place of one example of the class
    drawn most, so a capped training set cannot silently lose a rare class."""
    rng = random.Random(seed)
    chosen = rng.sample(list(examples), size)
    for label in sorted(label_counts(examples).keys() - label_counts(chosen).keys()):
        counts = label_counts(chosen)
        biggest = max(counts, key=lambda name: (counts[name], name))
        if counts[biggest] < 2:  # no room left without drawing another class out
            break
        out = max(i for i, e in enumerate(chosen) if e.label == biggest)
        chosen[out] = rng.choice([e for e in examples if e.label == label])
    return chosen


MAX_VALIDATION_SHARE = 0.25


def _validation_share(n_train_all: int, fraction: float, minimum: int) -> float:
    """``fraction``, raised so validation holds ``minimum`` tickets, never above a quarter."""
    if not minimum or not n_train_all:
        return fraction
    return max(fraction, min(minimum / n_train_all, MAX_VALIDATION_SHARE))


def label_counts(examples: Iterable[Example]) -> Counter[str]:
    return Counter(e.label for e in examples)
