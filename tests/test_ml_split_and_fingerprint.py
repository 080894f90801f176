"""The split trains on older tickets and evaluates on newer ones; the fingerprint tracks the data."""

import random
from datetime import UTC, datetime

from ml.core.dataset import (
    Example,
    build_dataset,
    fingerprint,
    sample_keeping_labels,
    split_examples,
    train_also,
)
from repair_center.models import RepairRecord, Ticket
from repair_center.services.tickets import tickets_upsert
from tests.factories import RepairRecordFactory, ml_catalogue, ml_ticket_documents


def _dataset(per_class: int):
    ml_catalogue()
    tickets_upsert(documents=ml_ticket_documents(per_class=per_class), source="noc")
    return build_dataset()


def test_a_large_enough_set_is_split_by_time(db):
    examples = _dataset(per_class=10).examples
    split = split_examples(examples, eval_fraction=0.2, validation_fraction=0.1, min_time_split=40)
    assert split.method == "time"
    assert len(split.eval) == 8
    assert max(e.opened_at for e in split.train + split.validation) < min(e.opened_at for e in split.eval)
    assert split.cutoff == min(e.opened_at for e in split.eval)
    assert len(split.train) + len(split.validation) == 32 and len(split.validation) == 4
    summary = split.summary()
    assert (summary["method"], summary["train"], summary["validation"], summary["eval"]) == ("time", 28, 4, 8)
    assert len(summary["eval_ids_sha256"]) == 64


def test_validation_is_raised_towards_a_minimum_on_a_small_set_and_never_past_a_quarter(db):
    examples = _dataset(per_class=10).examples  # 40 tickets: 32 in the training part
    plain = split_examples(examples, eval_fraction=0.2, validation_fraction=0.1, min_time_split=40)
    raised = split_examples(  # 7 of 32 is 22%: per class of 8, round(1.75) = 2 each
        examples, eval_fraction=0.2, validation_fraction=0.1, min_time_split=40, min_validation=7
    )
    small = split_examples(  # a minimum under the fraction changes nothing
        examples, eval_fraction=0.2, validation_fraction=0.1, min_time_split=40, min_validation=2
    )
    capped = split_examples(  # a quarter of 32 at most
        examples, eval_fraction=0.2, validation_fraction=0.1, min_time_split=40, min_validation=200
    )
    assert [len(s.validation) for s in (plain, small, raised, capped)] == [4, 4, 8, 8]
    assert len(capped.validation) == 0.25 * 32
    assert all(len(s.train) + len(s.validation) == 32 and len(s.eval) == 8 for s in (plain, raised, capped))
    assert {e.ticket_id for e in capped.eval} == {e.ticket_id for e in plain.eval}  # eval is unchanged


def test_a_small_set_falls_back_to_the_newest_of_each_class(db):
    examples = _dataset(per_class=5).examples
    split = split_examples(examples, eval_fraction=0.2, validation_fraction=0.2, min_time_split=200)
    assert split.method == "stratified"
    assert "fewer than 200" in split.reason
    assert sorted(e.label for e in split.eval) == sorted(
        ["FIX_MAINS", "REPLACE_SFP", "RESET_RADIO", "ROLLBACK_SW"]
    )
    for label in {e.label for e in examples}:
        newest = max(e.opened_at for e in examples if e.label == label)
        assert any(e.label == label and e.opened_at == newest for e in split.eval)
    assert {e.ticket_id for e in split.train}.isdisjoint({e.ticket_id for e in split.eval})
    assert len(split.train) + len(split.validation) + len(split.eval) == 20


def test_a_time_split_whose_newest_labels_were_never_seen_falls_back(db):
    ml_catalogue()
    old = ml_ticket_documents(per_class=10, classes=["REPLACE_SFP", "ROLLBACK_SW"])
    new = ml_ticket_documents(per_class=5, classes=["RESET_RADIO"], prefix="NEW")
    for document in new:
        document["opened_at"] = document["opened_at"].replace("2026-01-01", "2026-02-01")
        document["resolved_at"] = None
        document["events"] = []
    tickets_upsert(documents=old + new, source="noc")
    split = split_examples(build_dataset().examples, min_time_split=10)
    assert split.method == "stratified"
    assert "label seen before" in split.reason


def test_the_fingerprint_is_stable_and_moves_with_labels_and_repair_findings(db):
    first = fingerprint(_dataset(per_class=2))
    assert fingerprint(build_dataset()) == first

    document = ml_ticket_documents(per_class=1)[0]
    tickets_upsert(documents=[{**document, "resolution": "FIX_MAINS"}], source="noc")
    relabelled = fingerprint(build_dataset())
    assert relabelled != first

    RepairRecordFactory(ticket=Ticket.objects.first(), finding=RepairRecord.Finding.NO_FAULT_FOUND)
    assert fingerprint(build_dataset()) != relabelled


def _undated(per_class: int):
    ml_catalogue()
    documents = ml_ticket_documents(per_class=per_class)
    for document in documents:
        document["opened_at"] = document["resolved_at"] = None
        document["events"] = [{**event, "at": None} for event in document.get("events", [])]
    tickets_upsert(documents=documents, source="noc")
    return build_dataset().examples


def test_tickets_without_open_times_are_split_at_random_within_each_class(db):
    examples = _undated(per_class=10)
    split = split_examples(examples, eval_fraction=0.2, validation_fraction=0.1, min_time_split=40, seed=0)
    assert (split.method, split.seed, split.cutoff) == ("random", 0, None)
    assert "0% of tickets carry an open time" in split.reason
    labels = {e.label for e in examples}
    assert sorted(e.label for e in split.eval) == sorted([*labels, *labels])  # 2 of each class's 10
    parts = [{e.ticket_id for e in getattr(split, p)} for p in ("train", "validation", "eval")]
    assert sum(map(len, parts)) == 40 and set.union(*parts) == {e.ticket_id for e in examples}
    # Not "the last rows of the file": with no times, import order says nothing about time.
    newest_rows = {
        e.ticket_id
        for label in labels
        for e in sorted((x for x in examples if x.label == label), key=lambda x: x.ticket_id)[-2:]
    }
    assert parts[2] != newest_rows
    again = split_examples(examples, eval_fraction=0.2, validation_fraction=0.1, min_time_split=40, seed=0)
    assert again.summary() == split.summary()
    other = split_examples(examples, eval_fraction=0.2, validation_fraction=0.1, min_time_split=40, seed=1)
    assert other.summary()["eval_ids_sha256"] != split.summary()["eval_ids_sha256"]
    assert split.summary()["method"] == "random" and split.summary()["seed"] == 0


def test_tickets_of_a_class_too_rare_to_measure_join_the_training_part_only(db):
    examples = _dataset(per_class=10).examples
    rare = [e for e in examples if e.label == "FIX_MAINS"][:3]
    measured = [e for e in examples if e.label != "FIX_MAINS"]
    split = split_examples(measured, eval_fraction=0.2, validation_fraction=0.1, min_time_split=20)
    joined = train_also(split, rare)
    assert joined.method == "time" and (joined.validation, joined.eval) == (split.validation, split.eval)
    assert len(joined.train) == len(split.train) + 3 and set(rare) <= set(joined.train)
    assert joined.train == sorted(joined.train, key=lambda e: (e.opened_at, e.ticket_id))

    undated = _undated(per_class=10)
    random_split = split_examples(
        [e for e in undated if e.label != "FIX_MAINS"], eval_fraction=0.2, min_time_split=20, seed=0
    )
    joined = train_also(random_split, [e for e in undated if e.label == "FIX_MAINS"][:3])
    assert [e.ticket_id for e in joined.train] == sorted(e.ticket_id for e in joined.train)
    assert sum(e.label == "FIX_MAINS" for e in joined.train) == 3


def _examples(counts: dict[str, int]) -> list[Example]:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    labels = [label for label, n in counts.items() for _ in range(n)]
    return [
        Example(i, label, f"t{i}", at, at, "", True, 0, 0, document={}, context={}, code_map={})
        for i, label in enumerate(labels)
    ]


def test_a_capped_training_set_keeps_every_class_while_there_is_room():
    examples = _examples({"COMMON": 60, "OTHER": 30, "RARE": 2})
    plain = random.Random(0).sample(examples, 12)
    assert "RARE" not in {e.label for e in plain}  # what a plain sample of this seed loses

    chosen = sample_keeping_labels(examples, 12, seed=0)

    assert len(chosen) == 12 and len({e.ticket_id for e in chosen}) == 12
    assert {e.label for e in chosen} == {"COMMON", "OTHER", "RARE"}
    assert sum(e.label != "RARE" for e in chosen) == 11 and set(chosen) - set(plain) <= set(examples[-2:])
    # When nothing is drawn out, it is exactly the plain sample: earlier runs are unchanged.
    assert sample_keeping_labels(examples[:90], 12, seed=0) == random.Random(0).sample(examples[:90], 12)
    # No room for every class: never more than asked for.
    assert len(sample_keeping_labels(_examples({"A": 1, "B": 1, "C": 1}), 2, seed=0)) == 2
