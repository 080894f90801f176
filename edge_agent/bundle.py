"""Verify a signed bundle with the pinned key and load it into an immutable Model.

The verification mirrors ml/core/bundles.py (the agent carries no Django): the Ed25519 signature
covers manifest.json, and the manifest covers every file by sha256. A Model never changes after
it is built; the agent swaps whole Models, so a request holding the old one finishes on it.
"""

import base64
import hashlib
import io
import json
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization as crypto_serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from tokenizers import Tokenizer

from edge_agent import abstention
from edge_agent.calibration import Calibration
from edge_agent.calibration import loads as load_calibration
from edge_agent.delta import TARGET_MANIFEST, TARGET_SIGNATURE, DeltaError, apply_delta
from edge_agent.serialization import SERIALIZATION_VERSION, serialize
from edge_agent.sessions import CANDIDATES, Candidate, tuned_session
from edge_agent.token_ids import TokenIds

FORMAT = "ticketai-edge-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
REQUIRED_FILES = ("model.onnx", "tokenizer.json", "labels.json")
# Read before the signature is checked, so bounded: a real manifest is a few KB (a delta's, with
# its plan, a few tens), a signature 88 bytes of base64.
MAX_MANIFEST_BYTES = 1024 * 1024
MAX_SIGNATURE_BYTES = 4096
LOGITS, FEATURES = ["logits"], ["features"]
WARM_UP_RUNS = 3
RECORD_COUNTS = ("learnt_from", "held_out", "recommended", "right")
# Per label: the counts of RECORD_COUNTS and their ``statement`` (ml.serving.track_record).
Records = dict[str, dict[str, Any]]


class BundleError(Exception):
    """The bundle is malformed, not signed by the pinned key, or a file fails its checksum."""


def _read_bounded(archive: zipfile.ZipFile, name: str, limit: int) -> bytes:
    """A member's bytes, refused past ``limit`` whatever its header claims (it may lie)."""
    if archive.getinfo(name).file_size > limit:
        raise BundleError(f"{name} is larger than {limit} bytes")
    with archive.open(name) as member:
        data = member.read(limit + 1)
    if len(data) > limit:
        raise BundleError(f"{name} is larger than {limit} bytes")
    return data


def _signature_ok(data: bytes, signature: bytes, public_key_pem: str) -> bool:
    key = crypto_serialization.load_pem_public_key(public_key_pem.encode())
    if not isinstance(key, Ed25519PublicKey):
        return False
    try:
        key.verify(base64.b64decode(signature.strip(), validate=True), data)
    except (InvalidSignature, ValueError):
        return False
    return True


def _verified_contents(path: str | Path, public_key_pem: str) -> tuple[dict[str, Any], dict[str, bytes]]:
    """(manifest, files) of a signed zip whose signature and every checksum hold; no other check."""
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as e:
        raise BundleError(f"not a bundle: {e}") from e
    with archive:
        names = set(archive.namelist())
        if MANIFEST not in names or SIGNATURE not in names:
            raise BundleError("the bundle has no manifest or no signature")
        # Bounded reads before the signature is checked: an unsigned, crafted 306 KB zip whose
        # manifest inflated to hundreds of MB once took the agent from 365 MB to 665 MB.
        manifest_bytes = _read_bounded(archive, MANIFEST, MAX_MANIFEST_BYTES)
        signature = _read_bounded(archive, SIGNATURE, MAX_SIGNATURE_BYTES)
        if not _signature_ok(manifest_bytes, signature, public_key_pem):
            raise BundleError("bad signature: the manifest was not signed by the pinned key")
        try:
            manifest = json.loads(manifest_bytes)
        except ValueError as e:
            raise BundleError(f"manifest is not JSON: {e}") from e
        if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
            raise BundleError(f"unsupported bundle format {manifest.get('format')!r}")
        listed = manifest.get("files") or {}
        extra = names - set(listed) - {MANIFEST, SIGNATURE}
        if extra:
            raise BundleError(f"files not covered by the manifest: {', '.join(sorted(extra))}")
        contents = {}
        for name, expected in listed.items():
            if name not in names:
                raise BundleError(f"{name} is listed in the manifest but missing")
            # Hashed as a stream first: a swapped file is refused without being held in memory.
            digest = hashlib.sha256()
            with archive.open(name) as member:
                while block := member.read(1 << 20):
                    digest.update(block)
            if digest.hexdigest() != expected:
                raise BundleError(f"checksum mismatch for {name}")
            contents[name] = archive.read(name)
    return manifest, contents


def verify_bundle(path: str | Path, public_key_pem: str) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Return (manifest, {name: file bytes}) of a verified full bundle, or raise BundleError."""
    manifest, contents = _verified_contents(path, public_key_pem)
    if manifest.get("kind", "full") != "full":
        raise BundleError(f"a {manifest.get('kind')!r} bundle cannot be served; a full one is needed")
    missing = [name for name in REQUIRED_FILES if name not in contents]
    if missing:
        raise BundleError(f"the bundle lacks {', '.join(missing)}")
    if manifest.get("serialization_version", SERIALIZATION_VERSION) != SERIALIZATION_VERSION:
        raise BundleError(
            f"bundle wants serialisation v{manifest.get('serialization_version')}, "
            f"this agent has v{SERIALIZATION_VERSION}"
        )
    return manifest, contents


def rebuild_from_delta(
    delta_path: Path, base_path: Path, out_path: Path, public_key_pem: str
) -> dict[str, Any]:
    """Rebuild the full bundle a signed delta leads to from the installed ``base_path``.

    The delta is checked (signature, checksums, that it patches this base), its patches applied,
    and the result written to ``out_path`` with the full bundle's own manifest and signature,
    which it carries, then verified like a full download. Returns the rebuilt bundle's manifest;
    raises BundleError or DeltaError, leaving nothing at ``out_path``.
    """
    delta, patches = _verified_contents(delta_path, public_key_pem)
    if delta.get("kind") != "delta":
        raise BundleError(f"expected a delta bundle, got kind {delta.get('kind')!r}")
    base_manifest, base_files = verify_bundle(base_path, public_key_pem)
    if delta.get("base_version") != base_manifest.get("version"):
        raise DeltaError(
            f"the delta patches {delta.get('base_version')!r}, "
            f"the installed bundle is {base_manifest.get('version')!r}"
        )
    rebuilt = apply_delta(base_files, patches, delta.get("delta") or {})
    try:
        manifest_bytes, signature = patches[TARGET_MANIFEST], patches[TARGET_SIGNATURE]
    except KeyError as e:
        raise BundleError(f"the delta lacks the full bundle's {e.args[0]}") from None
    part = out_path.with_name(f".{out_path.name}.part")
    try:
        with zipfile.ZipFile(part, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(MANIFEST, manifest_bytes)
            archive.writestr(SIGNATURE, signature)
            for name, content in sorted(rebuilt.items()):
                archive.writestr(name, content)
        manifest, _ = verify_bundle(part, public_key_pem)
        if manifest.get("version") != delta.get("target_version"):
            raise BundleError(
                f"the rebuilt bundle is {manifest.get('version')!r}, "
                f"the delta promised {delta.get('target_version')!r}"
            )
        part.replace(out_path)
    finally:
        part.unlink(missing_ok=True)
    return manifest


@dataclass(frozen=True)
class Head:
    """A linear head on the encoder's features: logits = features @ W + b."""

    W: np.ndarray
    b: np.ndarray
    origin: str = "shipped"

    def logits(self, features: np.ndarray) -> np.ndarray:
        logits: np.ndarray = features @ self.W + self.b
        return logits


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    probabilities: np.ndarray = exp / exp.sum(axis=1, keepdims=True)
    return probabilities


def ranked(
    labels: list[str],
    probabilities: np.ndarray,
    k: int = 3,
    records: Records | None = None,
    merged: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """The k likeliest resolutions, as the agent answers them: each with its track record and the
    record's statement where ``records`` (the bundle's track_record.json) has one.

    ``merged``: labels central has merged into another code since the bundle was built, with the
    code kept for each (the heartbeat's ``merged``). As central answers a model trained before a
    merge (ml/serving/merged.py), their chances are added up and answered as the code kept. A fix the
    bundle learnt under several labels has no record here: counted apart, the labels would call a
    ticket fixed as one and put first as the other wrong, and only central can count them as one."""
    chances: dict[str, float] = {}
    members: dict[str, list[str]] = {}
    if not merged or not any(label in merged for label in labels):
        for i in np.argsort(-probabilities)[:k]:
            chances[labels[i]], members[labels[i]] = float(probabilities[i]), [labels[i]]
    else:
        codes = [merged.get(label, label) for label in labels]
        for label, code, chance in zip(labels, codes, probabilities.tolist(), strict=True):
            chances[code] = chances.get(code, 0.0) + chance
            members.setdefault(code, []).append(label)
    answers = []
    for code in sorted(chances, key=lambda c: -chances[c])[:k]:
        answer: dict[str, Any] = {"resolution": code, "confidence": round(chances[code], 6)}
        known = (records or {}).get(members[code][0]) if len(members[code]) == 1 else None
        if known is not None:
            answer["record"] = {key: value for key, value in known.items() if key != "statement"}
            answer["record_statement"] = known["statement"]
        answers.append(answer)
    return answers


def _records(raw: bytes | None) -> Records:
    """track_record.json, written centrally (ml.compression.pipeline): per label its counts and their
    statement. Absent from bundles built before it existed and when there was nothing to measure."""
    if raw is None:
        return {}
    records = json.loads(raw)
    for label, record in records.items():
        if not isinstance(record.get("statement"), str) or not all(
            isinstance(record.get(key), int) for key in RECORD_COUNTS
        ):
            raise ValueError(f"track_record.json: the record of {label!r} is incomplete")
    return dict(records)


@dataclass(frozen=True)
class Model:
    """A loaded bundle: never mutated; replaced whole on a hot swap or a new head."""

    version: str
    manifest: dict[str, Any]
    session: ort.InferenceSession
    tokenizer: Tokenizer
    labels: list[str]
    code_map: dict[str, str]
    shipped_head: Head | None
    head: Head | None = None  # a locally retrained head, when it beat the shipped one
    input_names: tuple[str, ...] = field(default=())
    # Fitted centrally for the shipped model on held-out tickets; a local head is not calibrated by it.
    calibration: Calibration | None = None
    # Read-only rows of ones and zeros as long as the longest input: one ticket's attention mask
    # and token types are views of them, not new arrays.
    ones: np.ndarray = field(default_factory=lambda: np.ones((1, 512), dtype=np.int64), repr=False)
    zeros: np.ndarray = field(default_factory=lambda: np.zeros((1, 512), dtype=np.int64), repr=False)
    # Per label, the shipped model's track record as central measured it; a local head has none.
    records: Records = field(default_factory=dict, repr=False)
    # Which session options serve and how they were chosen (edge_agent.sessions.tuned_session).
    session_choice: dict[str, Any] = field(default_factory=dict)
    # One ticket's ids from the words seen before (edge_agent.token_ids); None: the tokenizer's.
    token_ids: TokenIds | None = field(default=None, repr=False)
    # The abstention rule's inputs (edge_agent.abstention): the teacher's distinctive tokens (none:
    # never unfamiliar) and the Medium threshold central had when it built the bundle.
    vocabulary: frozenset[str] = field(default=frozenset(), repr=False)
    confidence_medium: float = abstention.CONFIDENCE_MEDIUM

    def texts(self, documents: list[dict[str, Any]], contexts: list[dict[str, Any] | None]) -> list[str]:
        return [
            serialize(d, context=c, code_map=self.code_map) for d, c in zip(documents, contexts, strict=True)
        ]

    def run(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(logits of the ONNX graph, features) per serialised ticket, each run alone, as
        ``predict_one`` runs it. The int8 graph scales its activations per run: in a batch a
        ticket's outputs moved with the tickets beside it, and a local head fitted on batched
        features would not have seen what the agent serves."""
        logits, features = [], []
        # ids and masks only: the _fast variant skips the character offsets nobody here reads
        for encoding in self.tokenizer.encode_batch_fast(texts):
            n = sum(encoding.attention_mask)  # the batch is padded on the right to its longest
            feeds = {
                "input_ids": np.array(encoding.ids[:n], dtype=np.int64).reshape(1, n),
                "attention_mask": self.ones[:, :n],
            }
            if "token_type_ids" in self.input_names:
                feeds["token_type_ids"] = self.zeros[:, :n]
            row_logits, row_features = self.session.run(["logits", "features"], feeds)
            logits.append(row_logits)
            features.append(row_features)
        if not logits:  # no ticket: empty rows of the widths a head would multiply
            width = self.shipped_head.W.shape[0] if self.shipped_head is not None else 0
            return np.zeros((0, len(self.labels)), np.float32), np.zeros((0, width), np.float32)
        return np.concatenate(logits), np.concatenate(features)

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        logits, features = self.run(texts)
        if self.head is not None:
            return softmax(self.head.logits(features).astype(np.float64))
        proba = softmax(logits.astype(np.float64))
        return self.calibration.apply(proba) if self.calibration is not None else proba

    def predict_one(self, text: str, marks: list[float] | None = None) -> np.ndarray:
        """Probabilities [C] for one serialised ticket: the agent's hot path.

        One ticket needs no padding, so its mask is all ones. Its ids come from the words seen
        before (``token_ids``, a tenth of the tokenizer's time once a site's words are known), else
        from ``encode_batch_fast``, which gives ``encode``'s ids without tracking character offsets.
        ``marks`` (profiling only) receives perf_counter() after each stage: tokenise, build
        arrays, session.run, head, softmax and calibration.
        """
        if self.token_ids is not None:
            ids = self.token_ids.ids(text)
        else:
            ids = self.tokenizer.encode_batch_fast([text])[0].ids
        if marks is not None:
            marks.append(time.perf_counter())
        n = len(ids)
        feeds = {"input_ids": np.array(ids, dtype=np.int64).reshape(1, n), "attention_mask": self.ones[:, :n]}
        if "token_type_ids" in self.input_names:
            feeds["token_type_ids"] = self.zeros[:, :n]
        if marks is not None:
            marks.append(time.perf_counter())
        if self.head is None:
            logits = self.session.run(LOGITS, feeds)[0][0]
        else:
            logits = self.session.run(FEATURES, feeds)[0][0] @ self.head.W + self.head.b
        if marks is not None:
            marks.append(time.perf_counter())
        exp = np.exp(logits.astype(np.float64) - logits.max())
        probabilities: np.ndarray = exp / exp.sum()
        if self.head is None and self.calibration is not None:
            probabilities = self.calibration.apply_one(probabilities)
        if marks is not None:
            marks.append(time.perf_counter())
        return probabilities

    @property
    def served_records(self) -> Records:
        """The track record of the model that serves: none for a local head, which central never measured."""
        return self.records if self.head is None else {}

    def with_head(self, head: Head) -> "Model":
        return replace(self, head=head)

    @property
    def served_version(self) -> str:
        """The bundle version, marked when a local head serves instead of the shipped one."""
        return f"{self.version}+local" if self.head is not None else self.version


def _one_token(session: ort.InferenceSession) -> dict[str, np.ndarray]:
    one = np.ones((1, 1), dtype=np.int64)
    return {i.name: one if i.name != "token_type_ids" else one * 0 for i in session.get_inputs()}


def _check_label_widths(session: ort.InferenceSession, labels: Any, head: bytes | None) -> None:
    """Refuse a bundle whose labels.json is not the list its model answers: one label per logit
    (and per column of head.npz). Loaded as it was, a model of another label set answered with
    the wrong codes, or failed on every ticket."""
    if not isinstance(labels, list) or not labels or not all(isinstance(label, str) for label in labels):
        raise BundleError("labels.json must be a non-empty list of resolution codes")
    widths = {"model.onnx logits": session.run(LOGITS, _one_token(session))[0].shape[-1]}
    if head is not None:
        widths["head.npz"] = int(np.load(io.BytesIO(head))["W"].shape[-1])
    wrong = {name: width for name, width in widths.items() if width != len(labels)}
    if wrong:
        found = ", ".join(f"{name} {width}" for name, width in wrong.items())
        raise BundleError(f"labels.json lists {len(labels)} labels, but the model answers {found}")


def load_model(
    path: str | Path,
    public_key_pem: str,
    *,
    threads: int = 1,
    candidates: Sequence[Candidate] = CANDIDATES,
    pin: str | None = None,
) -> Model:
    """Verify and load a bundle; raises BundleError when it must not be trusted.

    The session runs under whichever of ``candidates`` is fastest on this host
    (edge_agent.sessions), or under ``pin`` (default: $TICKETAI_EDGE_SESSION) when one is named;
    ``Model.session_choice`` records which and why.
    """
    manifest, contents = verify_bundle(path, public_key_pem)
    try:
        tokenizer = Tokenizer.from_str(contents["tokenizer.json"].decode())
        max_length = int(manifest.get("max_length", 128))
        session, session_choice = tuned_session(
            contents["model.onnx"],
            threads=threads,
            max_length=max_length,
            vocab_size=tokenizer.get_vocab_size(),
            candidates=candidates,
            pin=pin,
        )
        labels = json.loads(contents["labels.json"])
        code_map = json.loads(contents.get("code_map.json", b"{}"))
        calibration = load_calibration(contents.get("calibration.json"))
        records = _records(contents.get("track_record.json"))
        vocabulary = abstention.load_vocabulary(contents.get(abstention.VOCABULARY_FILE))
        confidence_medium = abstention.threshold(manifest)
        _check_label_widths(session, labels, contents.get("head.npz"))
    except Exception as e:  # a signed but broken bundle is refused like a tampered one
        raise BundleError(f"the bundle does not load: {e}") from e
    outputs = {o.name for o in session.get_outputs()}
    if not {"logits", "features"} <= outputs:
        raise BundleError(f"model.onnx must output logits and features, has {sorted(outputs)}")
    tokenizer.enable_truncation(max_length=max_length)
    pad_id = tokenizer.token_to_id("[PAD]")
    tokenizer.enable_padding(pad_id=pad_id if pad_id is not None else 0, pad_token="[PAD]")  # noqa: S106
    shipped = None
    if "head.npz" in contents:
        arrays = np.load(io.BytesIO(contents["head.npz"]))
        shipped = Head(W=arrays["W"], b=arrays["b"])
    model = Model(
        version=str(manifest.get("version") or Path(path).stem),
        manifest=manifest,
        session=session,
        tokenizer=tokenizer,
        labels=list(labels),
        code_map=dict(code_map),
        shipped_head=shipped,
        input_names=tuple(i.name for i in session.get_inputs()),
        calibration=calibration,
        records=records,
        ones=np.ones((1, max_length), dtype=np.int64),
        zeros=np.zeros((1, max_length), dtype=np.int64),
        session_choice=session_choice,
        token_ids=TokenIds.of(tokenizer),
        vocabulary=vocabulary,
        confidence_medium=confidence_medium,
    )
    # Warm-up: the first run plans memory and picks kernels; a site's first ticket should not pay it.
    for _ in range(WARM_UP_RUNS):
        model.predict_one("[empty]")
    return model
