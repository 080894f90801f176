"""The compression pipeline: champion -> student -> ONNX -> int8 (-> pruned) -> signed bundle -> EdgeBundle.

A bundle's version names its teacher and architecture (``t12-L2H192-20261129T110502``). The
student's torch weights are kept beside the bundles (``students/<version>/``) so the next
compression for the same tier can warm-start from them; that keeps most int8 weights identical,
and the update then also travels as a delta bundle (edge_agent/delta.py: per file, the byte-wise
difference to the base bundle's file, lzma-compressed; unchanged files are not sent at all).
Deltas and the EdgeBundle rows are made by ml.core.bundles, which the fleet's publication
(ml.fleet.edge.bundle_publish) uses too.
"""

import json
import logging
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from django.conf import settings
from django.utils import timezone

from ml.compression.distillation import DistillationConfig, distil, eval_examples
from ml.core import bundles
from ml.core.serialization import SERIALIZATION_VERSION
from ml.serving import ensemble, track_record
from ml.serving.familiarity import serving_distinctive_words
from ml.training import calibration, evaluation

logger = logging.getLogger(__name__)

TRACK_RECORD_FILE = "track_record.json"
# The teacher's distinctive tokens, for the agent's half of the abstention rule (unfamiliar tickets).
VOCABULARY_FILE = "vocabulary.json"

BUNDLE_FILES = ("model.onnx", "tokenizer.json", "labels.json", "code_map.json", "head.npz")
# Absent when there were no evaluation tickets to fit or measure them on (the vocabulary: when the
# teacher was trained before serving files existed). Agents ignore a file they do not know.
OPTIONAL_FILES = ("calibration.json", TRACK_RECORD_FILE, VOCABULARY_FILE)
# A build's scratch folder in the bundle directory; one left by a killed worker is removed by ml.worker.
WORK_PREFIX = ".work-"


# The least share of the teacher's accuracy (on the teacher's own evaluation tickets) a student must
# keep; a student under it is distilled again at the next size of CompressionConfig.fallback.
ACCURACY_FLOOR = 0.97
# The larger student tried when the default one (DistillationConfig: 1 layer, hidden 192) misses the
# floor: a second layer buys back accuracy at about 1.5x the time a ticket, where a narrower layer
# saves less time and loses more (docs/benchmarks.md#student-size).
FALLBACK = ((2, 192),)


@dataclass(slots=True)
class CompressionConfig:
    distillation: DistillationConfig = field(default_factory=DistillationConfig)
    sparsity: float = 0.0  # magnitude pruning of encoder linear weights before export; 0: none
    intended_tier: str = ""
    warm_start: bool = True  # from the previous student of this tier and architecture, with a delta
    # (layers, hidden size) distilled in turn while the student keeps less than accuracy_floor of the
    # teacher's accuracy; () serves the first student whatever it keeps.
    fallback: tuple[tuple[int, int], ...] = FALLBACK
    accuracy_floor: float = ACCURACY_FLOOR

    def to_json(self) -> dict:
        return {
            "distillation": self.distillation.to_json(),
            "sparsity": self.sparsity,
            "intended_tier": self.intended_tier,
            "warm_start": self.warm_start,
            "fallback": [list(arch) for arch in self.fallback],
            "accuracy_floor": self.accuracy_floor,
        }

    @classmethod
    def from_json(cls, data: dict | None) -> "CompressionConfig":
        data = data or {}
        return cls(
            distillation=DistillationConfig.from_json(data.get("distillation")),
            sparsity=float(data.get("sparsity", 0.0)),
            intended_tier=str(data.get("intended_tier", "")),
            warm_start=bool(data.get("warm_start", True)),
            fallback=tuple((int(layers), int(hidden)) for layers, hidden in data.get("fallback", FALLBACK)),
            accuracy_floor=float(data.get("accuracy_floor", ACCURACY_FLOOR)),
        )

    def ladder(self) -> list[DistillationConfig]:
        """The students to try, in order: ``distillation``, then each fallback size it is not already
        (same training settings, a fresh initialisation)."""
        first = self.distillation
        students, seen = [first], {(first.layers, first.hidden_size)}
        for layers, hidden in self.fallback:
            if (layers, hidden) not in seen:
                seen.add((layers, hidden))
                changed = {"layers": layers, "hidden_size": hidden, "intermediate_size": 0, "init_from": ""}
                students.append(DistillationConfig.from_json({**first.to_json(), **changed}))
        return students


# --- the pipeline --------------------------------------------------------------------------------


def architecture(student_dir: Path) -> str:
    config = json.loads((Path(student_dir) / "config.json").read_text())
    return f"L{config['num_hidden_layers']}H{config['hidden_size']}"


def students_root() -> Path:
    root = Path(settings.TICKETAI_EDGE_BUNDLE_DIR) / "students"
    root.mkdir(parents=True, exist_ok=True)
    return root


def code_map() -> dict[str, str]:
    """Every vendor alias -> curated code, as the edge needs it to serialise raw tickets."""
    from repair_center.models import ErrorCodeAlias

    rows = ErrorCodeAlias.objects.select_related("error_code").order_by("vendor", "raw_code")
    return {row.raw_code: row.error_code.code for row in rows}


def previous_bundle(*, teacher, intended_tier: str, arch: str):
    """The newest full bundle for this tier and architecture with the same labels and a kept student."""
    from ml.models import EdgeBundle

    candidates = EdgeBundle.objects.filter(kind=EdgeBundle.Kind.FULL, intended_tier=intended_tier).order_by(
        "-created_at", "-id"
    )
    for bundle in candidates:
        metrics = bundle.metrics or {}
        student = students_root() / bundle.version
        if (
            metrics.get("architecture") == arch
            and metrics.get("labels") == list(teacher.label_set)
            and (student / "config.json").exists()
            and bundle.file.exists()
        ):
            return bundle
    return None


def _onnx_proba(onnx_path: Path, tokenizer_dir: Path, texts: list[str], *, max_length: int) -> np.ndarray:
    from transformers import AutoTokenizer

    from ml.training.quantization import onnx_session

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir, local_files_only=True)
    session = onnx_session(onnx_path)
    out = []
    # One ticket per run, as the agent serves it: the int8 graph scales activations per run.
    for text in texts:
        encoded = tokenizer(text, truncation=True, max_length=max_length, return_tensors="np")
        feeds = {k: encoded[k].astype(np.int64) for k in ("input_ids", "attention_mask")}
        logits = session.run(["logits"], feeds)[0]
        logits = logits - logits.max(axis=1, keepdims=True)
        out.append(np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True))
    return np.concatenate(out) if out else np.zeros((0, 0))


def _evaluate(teacher, teacher_root: Path, work: Path, student_dir: Path, max_length: int) -> dict:
    """Metrics of the int8 and fp32 exports on the teacher's own evaluation set."""
    examples = eval_examples(teacher, teacher_root)
    texts, gold = [e.text for e in examples], [e.label for e in examples]
    labels = list(teacher.label_set)
    if not texts:
        return {"n": 0}
    int8 = _onnx_proba(work / "model.onnx", student_dir, texts, max_length=max_length)
    fp32 = _onnx_proba(work / "model_fp32.onnx", student_dir, texts, max_length=max_length)
    full = evaluation.report(gold, int8, labels)
    report = evaluation.summary(full)
    _write_track_record(teacher_root, work, labels, full)
    # The bundle's calibration (calibration.json), fitted and checked on halves of the same tickets.
    index = {label: i for i, label in enumerate(labels)}
    report["calibration"] = calibration.fit_on_half(
        work, y=np.array([index.get(label, -1) for label in gold]), proba=int8
    )
    report["fp32"] = evaluation.summary(evaluation.report(gold, fp32, labels))
    report["int8_fp32_argmax_agreement"] = float(np.mean(int8.argmax(1) == fp32.argmax(1)))
    report["teacher"] = evaluation.summary(teacher.metrics or {})
    # The served teacher mixes the transformer with classic members; the student learns the
    # transformer alone, so that is what its accuracy is held against.
    transformer = ((teacher.metrics or {}).get("members") or {}).get("transformer")
    if transformer:
        report["teacher_transformer"] = evaluation.summary(transformer)
    return report


def compress(*, teacher, config: CompressionConfig | None = None, progress=None):
    """Distil the teacher, export, quantize, bundle and register; returns (full EdgeBundle, delta or None).

    Students are tried in ``config.ladder()`` order until one keeps ``config.accuracy_floor`` of the
    teacher's accuracy; if none does, the most accurate is served. Each try is recorded in the bundle's
    metrics (``students_tried``)."""
    from ml.core import registry

    config = config or CompressionConfig()
    started = time.monotonic()
    teacher_root = registry.verify(teacher).path
    stamp = timezone.now().strftime("%Y%m%dT%H%M%S%f")
    work = Path(settings.TICKETAI_EDGE_BUNDLE_DIR) / f"{WORK_PREFIX}t{teacher.pk}-{stamp}"
    work.mkdir(parents=True)
    try:
        tried: list[_Student] = []
        for dconfig in config.ladder():
            tried.append(_build_student(teacher, teacher_root, config, dconfig, work, progress))
            if tried[-1].keeps(config.accuracy_floor):
                break
        # The loop stops at the first student that keeps the floor; if none did, the most accurate.
        chosen = tried[-1]
        if not chosen.keeps(config.accuracy_floor):
            chosen = max(tried, key=lambda s: s.metrics.get("accuracy", 0.0))
        version = f"t{teacher.pk}-{chosen.arch}-{stamp}"
        chosen.metrics["accuracy_floor"] = config.accuracy_floor
        chosen.metrics["students_tried"] = [s.summary(config.accuracy_floor) for s in tried]
        manifest = {
            "version": version,
            "kind": "full",
            "model_version": version,
            "parent": chosen.parent.version if chosen.parent else None,
            "teacher": teacher.pk,
            "teacher_label_set_key": teacher.label_set_key,
            "architecture": chosen.arch,
            "max_length": chosen.max_length,
            "metrics": chosen.metrics,
            "intended_tier": config.intended_tier,
            "serialization_version": SERIALIZATION_VERSION,
            # The agent abstains below it, as central does (ml/serving/confidence.py), at the
            # threshold of the day the bundle was built.
            "confidence_medium": float(settings.TICKETAI_CONFIDENCE_MEDIUM),
        }
        _write_vocabulary(teacher_root, chosen.work)
        full = _bundle_and_register(
            teacher, chosen.work, version, manifest, chosen.metrics, config.intended_tier
        )
        # Kept for the next warm start, before anything else can fail.
        shutil.move(str(chosen.student_dir), str(students_root() / version))
        delta = None
        if chosen.parent is not None:
            delta = _delta_bundle(chosen.parent, full)
        logger.info("edge bundle %s built in %.1f s", version, time.monotonic() - started)
        return full, delta
    finally:
        shutil.rmtree(work, ignore_errors=True)


@dataclass
class _Student:
    """One distilled student, exported and measured in its own folder, not registered yet."""

    arch: str
    work: Path
    student_dir: Path
    parent: object  # the EdgeBundle it warm-started from, or None
    max_length: int
    metrics: dict

    def share_of_teacher(self) -> float | None:
        """Its int8 accuracy over the teacher's transformer on the same tickets (None: unmeasured)."""
        reference = (self.metrics.get("teacher_transformer") or self.metrics.get("teacher") or {}).get(
            "accuracy"
        )
        if not self.metrics.get("n") or not reference:
            return None
        return self.metrics["accuracy"] / reference

    def keeps(self, floor: float) -> bool:
        share = self.share_of_teacher()
        return share is None or share >= floor

    def summary(self, floor: float) -> dict:
        share = self.share_of_teacher()
        return {
            "architecture": self.arch,
            "accuracy": self.metrics.get("accuracy"),
            "macro_f1": self.metrics.get("macro_f1"),
            "share_of_teacher": None if share is None else round(share, 4),
            "keeps_floor": self.keeps(floor),
            "train_s": self.metrics["distillation"].get("train_s"),
        }


def _build_student(teacher, teacher_root: Path, config: CompressionConfig, dconfig, work: Path, progress):
    """Distil one student of ``dconfig`` and export, quantize and measure it in ``work/<arch>``."""
    arch = f"L{dconfig.layers}H{dconfig.hidden_size}"
    parent = previous_bundle(teacher=teacher, intended_tier=config.intended_tier, arch=arch)
    dconfig = _warm_start(dconfig, parent, warm_start=config.warm_start)
    folder = work / arch
    folder.mkdir()
    if progress:
        progress({"phase": "distilling", "architecture": arch})
    student_dir = distil(
        teacher_version=teacher, config=dconfig, output_dir=folder / "student", progress=progress
    )
    info = json.loads((student_dir / "distillation.json").read_text())
    pruning, export_dir = _prune(student_dir, folder, config.sparsity)
    if progress:
        progress({"phase": "exporting"})
    sizes = _export_bundle_files(teacher, folder, export_dir, student_dir, pruning)
    if progress:
        progress({"phase": "evaluating"})
    metrics = _evaluate(teacher, teacher_root, folder, student_dir, info["max_length"])
    metrics.update(_build_metrics(teacher, arch, info, sizes, pruning))
    return _Student(arch, folder, student_dir, parent, info["max_length"], metrics)


def _warm_start(dconfig: DistillationConfig, parent, *, warm_start: bool) -> DistillationConfig:
    """Start the student from the previous bundle's weights when there is one and nothing else is asked."""
    if parent is not None and warm_start and not dconfig.init_from:
        return DistillationConfig.from_json(
            {**dconfig.to_json(), "init_from": str(students_root() / parent.version)}
        )
    return dconfig


def _prune(student_dir: Path, work: Path, sparsity: float) -> tuple[dict | None, Path]:
    """Magnitude-prune the student into ``work/pruned``; returns (pruning report or None, export folder)."""
    if not sparsity:
        return None, student_dir
    import torch

    from ml.training import quantization

    model = quantization.load_classifier(student_dir)
    pruning = quantization.prune_magnitude(model, sparsity)
    export_dir = work / "pruned"
    with torch.no_grad():
        model.save_pretrained(export_dir)
    for extra in student_dir.iterdir():
        if extra.is_file() and not (export_dir / extra.name).exists():
            shutil.copyfile(extra, export_dir / extra.name)
    return pruning, export_dir


def _write_track_record(teacher_root: Path, work: Path, labels: list[str], report: dict) -> None:
    """``track_record.json``: per label, what the student's answer rests on (ml.serving.track_record),
    its statement included, so the agent serves it as central words it. The student put first on the
    teacher's evaluation tickets what the agent puts first (its calibration keeps the ranking); it
    learnt from the tickets the teacher learnt from, its neighbour index."""
    path = teacher_root / ensemble.SERVING_DIR / "index.json"
    if not path.is_file():  # a teacher trained before serving files existed: no record
        return
    index = json.loads(path.read_text())
    table = track_record.records(labels, Counter(index["labels"]), report)
    content = {
        label: {**record, "statement": track_record.statement(record)} for label, record in table.items()
    }
    (work / TRACK_RECORD_FILE).write_text(json.dumps(content, sort_keys=True))


def _write_vocabulary(teacher_root: Path, work: Path) -> None:
    """``vocabulary.json``: the teacher's distinctive tokens, as central decides a ticket is unfamiliar
    (ml.serving.familiarity.distinctive_words), so the agent abstains on the same tickets."""
    words = serving_distinctive_words(teacher_root / ensemble.SERVING_DIR)
    if words is None:  # a teacher trained before serving files existed: the agent applies the threshold
        return
    (work / VOCABULARY_FILE).write_text(json.dumps({"distinctive_words": sorted(words)}))


def _export_bundle_files(
    teacher, work: Path, export_dir: Path, student_dir: Path, pruning: dict | None
) -> dict:
    """Write the bundle's files into ``work``: the int8 ONNX model, head, labels, code map, tokenizer."""
    from ml.training import quantization

    export = quantization.export_onnx(export_dir, work / "model_fp32.onnx", head_out=work / "head.npz")
    quantized = quantization.quantize_int8(work / "model_fp32.onnx", work / "model.onnx")
    if pruning is not None:
        pruning["model_onnx_zip_bytes"] = quantization.compressed_size(work / "model.onnx")
    (work / "labels.json").write_text(json.dumps(list(teacher.label_set)))
    (work / "code_map.json").write_text(json.dumps(code_map(), sort_keys=True))
    shutil.copyfile(student_dir / "tokenizer.json", work / "tokenizer.json")
    return {
        "onnx_fp32_bytes": export["bytes"],
        "onnx_int8_bytes": quantized["bytes"],
        "export_max_abs_error": export["max_abs_error_vs_torch"],
        "head_max_abs_error": export["head_max_abs_error"],
    }


def _build_metrics(teacher, arch: str, info: dict, sizes: dict, pruning: dict | None) -> dict:
    """How the bundle was built: architecture, distillation record, export sizes and errors, pruning."""
    return dict(
        architecture=arch,
        labels=list(teacher.label_set),
        max_length=info["max_length"],
        student_parameters=info["parameters"],
        distillation={
            k: info[k] for k in ("examples", "labelled", "augmented", "unlabelled", "history", "train_s")
        },
        **sizes,
        pruning=pruning,
    )


def _bundle_and_register(
    teacher, work: Path, version: str, manifest: dict, metrics: dict, intended_tier: str
):
    """Zip and sign the bundle beside the others, then register its EdgeBundle row."""
    bundle_dir = Path(settings.TICKETAI_EDGE_BUNDLE_DIR)
    files = {name: work / name for name in BUNDLE_FILES}
    files.update({name: work / name for name in OPTIONAL_FILES if (work / name).is_file()})
    path = bundles.build_bundle(out_path=bundle_dir / f"{version}.zip", files=files, manifest=manifest)
    metrics["bundle_bytes"] = path.stat().st_size
    return bundles.bundle_register(
        path=path, model_version=teacher, intended_tier=intended_tier, metrics=metrics
    )


def _delta_bundle(parent, full):
    """The delta from ``parent`` to ``full``; records the bytes saved on the full bundle's row."""
    delta = bundles.delta_register(base=parent, full=full)
    if delta is not None:
        full.metrics = {**full.metrics, "delta": {**delta.metrics, "delta_version": delta.version}}
        full.save(update_fields=["metrics"])
    return delta


def distil_lock_key(teacher_version_id: int, intended_tier: str) -> str:
    return f"ml:distil:{teacher_version_id}:{intended_tier}"


def compress_once(
    *,
    teacher_version_id: int,
    intended_tier: str = "",
    config: dict | None = None,
    progress=None,
    owner: str = "running",
) -> dict:
    """compress() under a lock per (teacher, tier), so a redelivered task does not build twice.

    ``owner`` (the task id) is the lock's value: ml.worker frees the lock of a killed task, only its own.
    """
    from django.core.cache import cache

    from ml.models import ModelVersion

    key = distil_lock_key(teacher_version_id, intended_tier)
    if not cache.add(key, owner, timeout=settings.CELERY_TASK_TIME_LIMIT):
        return {"teacher": teacher_version_id, "status": "skipped", "reason": "already running"}
    try:
        teacher = ModelVersion.objects.filter(pk=teacher_version_id).first()
        if teacher is None:
            return {"teacher": teacher_version_id, "status": "missing"}
        compression_config = CompressionConfig.from_json({**(config or {}), "intended_tier": intended_tier})
        full, delta = compress(teacher=teacher, config=compression_config, progress=progress)
        return {
            "teacher": teacher.pk,
            "status": "succeeded",
            "bundle": full.version,
            "bytes": full.bytes,
            "delta": delta.version if delta else None,
            "delta_bytes": delta.bytes if delta else None,
            "architecture": full.metrics.get("architecture"),
            "metrics": {k: full.metrics.get(k) for k in ("n", "accuracy", "macro_f1", "top3")},
            # which sizes were distilled and why this one is served (docs/edge.md, the accuracy floor)
            "students_tried": full.metrics.get("students_tried"),
        }
    finally:
        cache.delete(key)
