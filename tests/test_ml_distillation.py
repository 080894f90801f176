"""Distillation: a small student learns the champion's soft labels over labelled and open tickets."""

import json
import math
import random

import pytest
import torch

from ml.compression.distillation import DistillationConfig, augment, build_student, distil, distil_loss

pytestmark = pytest.mark.slow


def test_the_student_trains_on_soft_labels_of_labelled_and_open_tickets_and_its_loss_falls(teacher, tmp_path):
    steps = []
    config = DistillationConfig(layers=2, hidden_size=32, epochs=8, batch_size=4, learning_rate=3e-3)

    student = distil(
        teacher_version=teacher, config=config, output_dir=tmp_path / "student", progress=steps.append
    )

    info = json.loads((student / "distillation.json").read_text())
    teacher_dir = teacher.artifact_dir
    eval_ids = json.loads((teacher_dir / "split.json").read_text())["eval"]
    # Every labelled ticket but the teacher's held-out evaluation set, one view of each with less
    # known (those equal to their ticket left out), plus the 12 open ones.
    assert info["held_out_eval"] == len(eval_ids) == 8
    assert (info["labelled"], info["unlabelled"]) == (24, 12)
    assert 12 <= info["augmented"] <= 24
    assert info["examples"] == 24 + info["augmented"] + 12
    assert info["teacher_version"] == teacher.pk and info["max_length"] == 64
    history = info["history"]
    assert len(history) == 8 and history[-1]["loss"] < history[0]["loss"] * 0.9, history
    assert steps[-1]["step"] == steps[-1]["total_steps"] == 8 * math.ceil(info["examples"] / 4)

    student_config = json.loads((student / "config.json").read_text())
    assert (student_config["num_hidden_layers"], student_config["hidden_size"]) == (2, 32)
    assert student_config["id2label"] == {str(i): label for i, label in enumerate(teacher.label_set)}
    teacher_tokenizer = json.loads((teacher_dir / "model" / "tokenizer.json").read_text())
    assert json.loads((student / "tokenizer.json").read_text())["model"] == teacher_tokenizer["model"]


def test_a_student_as_wide_as_its_teacher_starts_from_the_teachers_embeddings_and_spaced_layers(tmp_path):
    from transformers import BertConfig, BertForSequenceClassification

    teacher = BertForSequenceClassification(
        BertConfig(
            hidden_size=64, num_hidden_layers=4, num_attention_heads=2, intermediate_size=256, num_labels=3
        )
    )
    config = DistillationConfig(layers=2, hidden_size=64, intermediate_size=256)

    student = build_student(teacher, config, 3, {0: "A", 1: "B", 2: "C"})

    def same(a, b):
        return all(
            torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
        )

    assert same(student.bert.embeddings, teacher.bert.embeddings)
    assert same(student.bert.encoder.layer[0], teacher.bert.encoder.layer[0])
    assert same(student.bert.encoder.layer[1], teacher.bert.encoder.layer[3])
    assert same(student.classifier, teacher.classifier)


def test_a_narrower_student_gets_the_teachers_embeddings_projected_onto_their_principal_directions():
    from transformers import BertConfig, BertForSequenceClassification

    teacher = BertForSequenceClassification(
        BertConfig(vocab_size=500, hidden_size=64, num_hidden_layers=2, num_attention_heads=2, num_labels=2)
    )
    student = build_student(teacher, DistillationConfig(layers=1, hidden_size=16), 2, {0: "A", 1: "B"})

    words = student.bert.embeddings.word_embeddings.weight.detach().double()
    teacher_words = teacher.bert.embeddings.word_embeddings.weight.detach().double()
    assert words.shape == (500, 16)
    # The projection keeps the 16 directions of most variance: the share PCA says, more than chance.
    kept = (words - words.mean(0)).square().sum() / (teacher_words - teacher_words.mean(0)).square().sum()
    singular = torch.linalg.svdvals(teacher_words - teacher_words.mean(0))
    assert torch.isclose(kept, singular[:16].square().sum() / singular.square().sum(), rtol=1e-4)
    assert kept > 16 / 64


def test_the_loss_is_the_tempered_kl_alone_on_unlabelled_rows_and_mixes_in_cross_entropy_on_labelled_ones():
    student = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]])
    teacher = torch.tensor([[1.0, 1.0, -2.0], [0.0, 3.0, 0.0]])
    t = 2.0
    kl = torch.nn.functional.kl_div(
        torch.log_softmax(student / t, -1), torch.softmax(teacher / t, -1), reduction="batchmean"
    ) * (t * t)
    ce = torch.nn.functional.cross_entropy(student[:1], torch.tensor([0]))

    unlabelled = distil_loss(student, teacher, torch.tensor([-1, -1]), temperature=t, alpha=0.7)
    mixed = distil_loss(student, teacher, torch.tensor([0, -1]), temperature=t, alpha=0.7)

    assert torch.isclose(unlabelled, kl)
    assert torch.isclose(mixed, 0.7 * kl + 0.3 * ce)


TICKET = (
    "[site] climate=coastal tier=cell-site [unit] kind=radio-unit vendor=nordlink sw=r22.1 "
    "[codes] CPRI_LINK_DOWN SW_CRASH [events] -2h05m software_upgrade | -4m alarm_raised SFP_RX_LOW "
    "| +0m alarm_raised CPRI_LINK_DOWN [text] link down | see [events] log | restarted"
)
SECTIONS = ("[site] ", "[unit] ", "[codes] ", "[events] ", "[text] ")


def test_an_augmented_view_keeps_the_codes_the_order_and_the_free_text_whole_or_drops_it():
    events = ["-2h05m software_upgrade", "-4m alarm_raised SFP_RX_LOW", "+0m alarm_raised CPRI_LINK_DOWN"]
    free_text = "[text] link down | see [events] log | restarted"
    rng, views = random.Random(0), set()
    for _ in range(300):
        view = augment(TICKET, rng)
        views.add(view)
        assert "[codes] CPRI_LINK_DOWN SW_CRASH [events] " in view
        head, _, rest = view.partition("[text] ")
        assert not rest or "[text] " + rest == free_text  # the free text whole, even its "[events]"
        present = [m for m in SECTIONS if m in head or (m == "[text] " and rest)]
        assert present == sorted(present, key=SECTIONS.index)
        kept = head.partition("[events] ")[2].strip().split(" | ")
        assert kept and all(e in events for e in kept)
        assert kept == sorted(kept, key=events.index)  # the events keep their order
    # every kind of drop happens, and views differ
    assert len(views) > 20
    assert any("[site]" not in v for v in views) and any("[unit]" not in v for v in views)
    assert any("[text]" not in v for v in views) and any(v.count(" | ") < 2 for v in views)
    assert TICKET in views  # nothing dropped at times: such views are left out of the data


def test_a_ticket_with_nothing_to_drop_is_its_own_only_view():
    rng = random.Random(0)
    assert {augment("[codes] CPRI_LINK_DOWN", rng) for _ in range(20)} == {"[codes] CPRI_LINK_DOWN"}
    assert {augment("[text] fibre cut", rng) for _ in range(20)} == {"[text] fibre cut"}
    assert augment("[empty]", rng) == "[empty]"
