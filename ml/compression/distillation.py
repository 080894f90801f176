"""Distillation: a small BERT student learns the champion's soft labels, for the edge.

The student keeps the teacher's tokenizer and sees exactly the teacher's input (ml.core.dataset builds
the serialised text), so one serialisation serves both. It trains on every ticket the teacher did
not hold out for evaluation: labelled ones with the temperature-scaled KL to the teacher plus
cross-entropy on the gold label, unlabelled ones (no resolution yet) with the KL alone, which is
where distillation gets data that fine-tuning could not use. The teacher's evaluation tickets are
never trained on, so the student is measured on the same central evaluation set as its teacher.

Initialisation, so a few epochs on CPU suffice: with the teacher's hidden size the student takes
the teacher's embeddings and evenly spaced layers; with a smaller one its word embeddings are the
teacher's projected onto their top principal directions. ``init_from`` warm-starts from an earlier
student of the same architecture instead, which keeps most int8 weights identical and makes the
delta update between the two small.
"""

import json
import math
import random
import re
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from django.db.models import F

from ml.core import registry
from ml.core.dataset import (
    build_dataset,
    example_from_ticket,
    sample_keeping_labels,
    ticket_code_map,
    ticket_context,
)
from ml.core.serialization import serialize
from ml.training.fine_tuning import JsonConfig, _offline, _quiet_transformers, batched_logits
from ml.training.steps import TrainingSteps, adamw
from repair_center import selectors
from repair_center.models import Ticket

Progress = Callable[[dict], None]
INFO = "distillation.json"


@dataclass(slots=True)
class DistillationConfig(JsonConfig):
    # One layer: a small student's latency is mostly per-operator costs, which scale with its layers
    # on any CPU, more than with its width (docs/benchmarks.md#student-size). The compression falls
    # back to two layers when one keeps less than the accuracy floor (ml.compression.pipeline.FALLBACK).
    layers: int = 1
    hidden_size: int = 192
    intermediate_size: int = 0  # 0: 4 x hidden_size
    # benchmarks/edge.py (3,000 tickets): with augment=1, 13 epochs kept 97.8% of the teacher's
    # accuracy in the time 25 epochs without views took for 97.2%
    epochs: int = 13
    batch_size: int = 32
    learning_rate: float = 5e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    temperature: float = 2.0
    alpha: float = 0.7  # weight of the KL to the teacher; 1 - alpha on the gold label
    max_length: int = 0  # 0: the teacher's
    max_train_samples: int | None = None
    max_unlabelled: int | None = None  # None: every unlabelled ticket; 0: none
    augment: int = 1  # views of each labelled ticket with less known (``augment``), soft labels only
    init_from: str = ""  # an earlier student directory of the same architecture
    seed: int = 42

    @property
    def heads(self) -> int:
        # 64-dimensional heads, as in BERT; at least one.
        return max(1, self.hidden_size // 64)


@dataclass(slots=True)
class DistillationData:
    texts: list[str]
    labels: list[int]  # -1: unlabelled or augmented (soft labels only)
    eval_ticket_ids: list[int]
    augmented: int = 0

    @property
    def labelled(self) -> int:
        return sum(1 for y in self.labels if y >= 0)


def sources_of(label_set_key: str) -> list[str]:
    """The ticket sources a label set was trained on (none: all)."""
    _, _, sources = label_set_key.partition(":")
    return [s for s in sources.split(",") if s]


def teacher_eval_ids(teacher_dir: Path) -> list[int]:
    split = json.loads((teacher_dir / "split.json").read_text())
    return list(split.get("eval", []))


def _unlabelled_texts(sources: Sequence[str], limit: int | None) -> list[str]:
    queryset = (
        selectors.ticket_detail().filter(resolution__isnull=True).exclude(status=Ticket.Status.CANCELLED)
    )
    if sources:
        queryset = queryset.filter(source__in=list(sources))
    if limit is not None:
        queryset = queryset.order_by(F("opened_at").desc(nulls_last=True), "-id")[:limit]
    texts = []
    for ticket in queryset:
        document = selectors.ticket_document(ticket)
        texts.append(serialize(document, context=ticket_context(ticket), code_map=ticket_code_map(ticket)))
    return texts


_EVENT_SEPARATOR = " | "


def augment(text: str, rng: random.Random) -> str:
    """A serialised ticket as it may arrive with less known: site, unit and attributes each dropped
    with probability 0.3, the free text with 0.3, each event with 0.25 (at least one kept, order
    kept). Curated codes are always kept. The teacher labels the view (its soft labels only: the gold
    fix may rest on what was dropped), so the student learns the teacher's function on more inputs
    than the labelled tickets alone, as TinyBERT's augmentation does.

    The layout is ``edge_agent.serialization.serialize``'s: sections in a fixed order, the free text
    last (``[text]`` and everything after it, whatever it contains)."""
    head, marker, free_text = text.partition("[text] ")
    sections = re.split(r" ?(?=\[(?:site|unit|attrs|codes|events)\] )", head.strip()) if head.strip() else []
    kept = []
    for section in filter(None, (s.strip() for s in sections)):
        if section.startswith(("[site] ", "[unit] ", "[attrs] ")) and rng.random() < 0.3:
            continue
        if section.startswith("[events] "):
            events = section.removeprefix("[events] ").split(_EVENT_SEPARATOR)
            chosen = [e for e in events if rng.random() >= 0.25] or [rng.choice(events)]
            section = "[events] " + _EVENT_SEPARATOR.join(chosen)
        kept.append(section)
    if marker and (rng.random() >= 0.3 or not kept):
        kept.append(marker + free_text)
    return " ".join(kept) or text


def collect_data(teacher_version, teacher_dir: Path, config: DistillationConfig) -> DistillationData:
    """Labelled tickets outside the teacher's evaluation set, ``config.augment`` views of each with
    less known (``augment``; views equal to a ticket are left out), and unlabelled tickets."""
    label_index = {label: i for i, label in enumerate(teacher_version.label_set)}
    held_out = set(teacher_eval_ids(teacher_dir))
    sources = sources_of(teacher_version.label_set_key)
    examples = [e for e in build_dataset(sources=sources).examples if e.ticket_id not in held_out]
    if config.max_train_samples and len(examples) > config.max_train_samples:
        examples = sample_keeping_labels(examples, config.max_train_samples, config.seed)
    # A label the teacher never learnt still teaches through the teacher's view of the ticket.
    texts = [e.text for e in examples]
    labels = [label_index.get(e.label, -1) for e in examples]
    rng, seen = random.Random(config.seed), set(texts)
    views = []
    for _ in range(config.augment):
        for text in texts:  # the labelled tickets only: views and unlabelled ones are added below
            view = augment(text, rng)
            if view not in seen:
                seen.add(view)
                views.append(view)
    texts += views
    labels += [-1] * len(views)
    if config.max_unlabelled != 0:
        unlabelled = _unlabelled_texts(sources, config.max_unlabelled)
        texts += unlabelled
        labels += [-1] * len(unlabelled)
    return DistillationData(
        texts=texts, labels=labels, eval_ticket_ids=sorted(held_out), augmented=len(views)
    )


def eval_examples(teacher_version, teacher_dir: Path):
    """The teacher's held-out evaluation tickets as Examples (those still labelled)."""
    ids = teacher_eval_ids(teacher_dir)
    tickets = selectors.labelled_tickets().filter(pk__in=ids)
    return [example_from_ticket(t) for t in tickets]


def _spaced(n_teacher: int, n_student: int) -> list[int]:
    """Evenly spaced teacher layers, first and last included (6 -> 2: [0, 5])."""
    if n_student == 1:
        return [n_teacher - 1]
    return [round(i * (n_teacher - 1) / (n_student - 1)) for i in range(n_student)]


def _projection(teacher_embeddings: np.ndarray, size: int) -> np.ndarray:
    """[teacher_hidden, size]: the top principal directions of the teacher's word embeddings."""
    centred = teacher_embeddings - teacher_embeddings.mean(axis=0, keepdims=True)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return vt[:size].T.astype(np.float32)


def build_student(teacher, config: DistillationConfig, num_labels: int, id2label: dict):
    """A small BertForSequenceClassification initialised from the teacher where shapes allow."""
    import torch
    from transformers import AutoModelForSequenceClassification, BertConfig, BertForSequenceClassification

    if config.init_from:
        return AutoModelForSequenceClassification.from_pretrained(config.init_from, local_files_only=True)
    t_config = teacher.config
    student_config = BertConfig(
        vocab_size=t_config.vocab_size,
        hidden_size=config.hidden_size,
        num_hidden_layers=config.layers,
        num_attention_heads=config.heads,
        intermediate_size=config.intermediate_size or 4 * config.hidden_size,
        max_position_embeddings=getattr(t_config, "max_position_embeddings", 512),
        type_vocab_size=getattr(t_config, "type_vocab_size", 2),
        pad_token_id=getattr(t_config, "pad_token_id", 0),
        num_labels=num_labels,
        id2label=id2label,
        label2id={v: k for k, v in id2label.items()},
    )
    student = BertForSequenceClassification(student_config)
    t_bert = getattr(teacher, "bert", None)
    if t_bert is None:
        return student  # not BERT-shaped: learn from scratch
    with torch.no_grad():
        if t_config.hidden_size == config.hidden_size:
            student.bert.embeddings.load_state_dict(t_bert.embeddings.state_dict())
            for s_layer, t_index in zip(
                student.bert.encoder.layer, _spaced(t_config.num_hidden_layers, config.layers), strict=True
            ):
                if t_config.intermediate_size == student_config.intermediate_size:
                    s_layer.load_state_dict(t_bert.encoder.layer[t_index].state_dict())
            if t_bert.pooler is not None:
                student.bert.pooler.load_state_dict(t_bert.pooler.state_dict())
            student.classifier.load_state_dict(teacher.classifier.state_dict())
        else:
            words = t_bert.embeddings.word_embeddings.weight.detach().numpy()
            projection = torch.from_numpy(_projection(words, config.hidden_size))
            for name in ("word_embeddings", "position_embeddings", "token_type_embeddings"):
                source = getattr(t_bert.embeddings, name).weight
                getattr(student.bert.embeddings, name).weight.copy_(source @ projection)
    return student


def distil_loss(student_logits, teacher_logits, labels, *, temperature: float, alpha: float):
    """alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * CE(gold) over the labelled rows."""
    import torch
    import torch.nn.functional as F

    t = temperature
    kl = F.kl_div(
        F.log_softmax(student_logits / t, dim=-1),
        F.softmax(teacher_logits / t, dim=-1),
        reduction="batchmean",
    ) * (t * t)
    labelled = labels >= 0
    if labelled.any():
        ce = F.cross_entropy(student_logits[labelled], labels[labelled])
        return alpha * kl + (1 - alpha) * ce
    return kl + 0 * torch.zeros((), device=student_logits.device)


def distil(
    *,
    teacher_version,
    config: DistillationConfig | None = None,
    output_dir: Path | None = None,
    progress: Progress | None = None,
) -> Path:
    """Train a student on the teacher's soft labels; returns the saved student directory."""
    _offline()
    import torch

    _quiet_transformers()
    config = config or DistillationConfig()
    teacher_root = registry.verify(teacher_version).path
    max_length = config.max_length or int(teacher_version.hyperparameters.get("max_length") or 128)
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    started = time.monotonic()

    data = collect_data(teacher_version, teacher_root, config)
    if not data.texts:
        raise ValueError("no tickets to distil on")
    tokenizer, student, soft = _teacher_labels_and_student(
        teacher_version, teacher_root / "model", data, config, max_length
    )
    encoded = tokenizer(data.texts, truncation=True, max_length=max_length)["input_ids"]
    batch_of = partial(_padded_batch, encoded, tokenizer.pad_token_id or 0)
    history = _train_epochs(
        student, batch_of, len(encoded), soft, torch.tensor(data.labels), config, rng, progress
    )

    output_dir = Path(output_dir) if output_dir else registry.staging_dir() / "student"
    _save(student, tokenizer, output_dir)
    info = {
        "teacher_version": teacher_version.pk,
        "config": config.to_json(),
        "max_length": max_length,
        "examples": len(data.texts),
        "labelled": data.labelled,
        "augmented": data.augmented,
        "unlabelled": len(data.texts) - data.labelled - data.augmented,
        "held_out_eval": len(data.eval_ticket_ids),
        "history": history,
        "parameters": sum(p.numel() for p in student.parameters()),
        "train_s": round(time.monotonic() - started, 2),
    }
    (output_dir / INFO).write_text(json.dumps(info, indent=1, sort_keys=True))
    return output_dir


def _teacher_labels_and_student(teacher_version, teacher_dir: Path, data, config, max_length: int):
    """The teacher's tokenizer, a student built from the teacher, and the teacher's logits on every
    text (the soft labels); the teacher itself is let go."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(teacher_dir, local_files_only=True)
    teacher = AutoModelForSequenceClassification.from_pretrained(teacher_dir, local_files_only=True)
    soft = torch.from_numpy(batched_logits(teacher, tokenizer, data.texts, max_length=max_length))
    id2label = dict(enumerate(teacher_version.label_set))
    student = build_student(teacher, config, len(id2label), id2label)
    return tokenizer, student, soft


def _padded_batch(encoded: Sequence[list[int]], pad: int, idx: Sequence[int]) -> tuple:
    """Token ids and attention mask of the rows ``idx``, padded to the longest of them."""
    import torch

    width = max(len(encoded[i]) for i in idx)
    input_ids = torch.full((len(idx), width), pad, dtype=torch.long)
    mask = torch.zeros((len(idx), width), dtype=torch.long)
    for row, i in enumerate(idx):
        input_ids[row, : len(encoded[i])] = torch.tensor(encoded[i])
        mask[row, : len(encoded[i])] = 1
    return input_ids, mask


def _train_epochs(student, batch_of, n_rows: int, soft, labels, config, rng, progress) -> list[dict]:
    """``config.epochs`` shuffled passes over the rows with a linear warm-up and decay; returns
    each epoch's mean, first and last batch loss."""
    from transformers import get_linear_schedule_with_warmup

    def loss_of(idx):
        input_ids, mask = batch_of(idx)
        logits = student(input_ids=input_ids, attention_mask=mask).logits
        return distil_loss(logits, soft[idx], labels[idx], temperature=config.temperature, alpha=config.alpha)

    optimizer = adamw(student.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    total_steps = math.ceil(n_rows / config.batch_size) * config.epochs
    scheduler = get_linear_schedule_with_warmup(
        optimizer, int(total_steps * config.warmup_ratio), total_steps
    )
    steps = TrainingSteps(model=student, optimizer=optimizer, loss_of=loss_of, scheduler=scheduler)
    history = []
    for epoch in range(1, config.epochs + 1):
        student.train()
        order = list(range(n_rows))
        rng.shuffle(order)
        batches = [order[start : start + config.batch_size] for start in range(0, n_rows, config.batch_size)]
        report = None
        if progress:
            report = partial(
                _report, progress, steps, epoch=epoch, epochs=config.epochs, total_steps=total_steps
            )
        losses = steps.run(batches, progress=report)
        history.append(
            {
                "epoch": epoch,
                "loss": round(sum(losses) / len(losses), 4),
                "first_batch_loss": round(losses[0], 4),
                "last_batch_loss": round(losses[-1], 4),
            }
        )
    return history


def _report(
    progress: Progress, steps: TrainingSteps, loss: float, *, epoch: int, epochs: int, total_steps: int
):
    progress(
        {
            "phase": "distilling",
            "epoch": epoch,
            "epochs": epochs,
            "step": steps.step,
            "total_steps": total_steps,
            "loss": round(loss, 4),
        }
    )


def _save(student, tokenizer, output_dir: Path) -> None:
    """The student and the teacher's tokenizer, in place of whatever ``output_dir`` held."""
    if output_dir.exists():
        shutil.rmtree(output_dir)
    student.eval()
    student.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
