"""The agent: enrolment, bundle hot swap and local prediction into the outbox. Its other duties
are loop objects it composes: the heartbeat and the forwarder that drains the outbox
(``edge_agent.loops``), and local learning (``edge_agent.learning``).

Concurrency: the served Model is one attribute, replaced whole (a reference assignment is atomic
in CPython), so a request that took the old Model finishes on it while new requests get the new
one; nothing is locked on the prediction path except the outbox write.
"""

import contextlib
import hashlib
import json
import logging
import os
import platform
import shutil
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from edge_agent import __version__, abstention, bundle_store
from edge_agent.bundle import BundleError, Head, Model, load_model, ranked, rebuild_from_delta
from edge_agent.client import TRANSIENT, CentralClient, CentralError
from edge_agent.delta import DeltaError, sha256_file
from edge_agent.learning import Learner
from edge_agent.loops import ForwarderLoop, HeartbeatLoop
from edge_agent.outbox import Outbox, OutboxFull
from edge_agent.retrain import EtlModel

logger = logging.getLogger("edge_agent")
MAX_MERGED = 100_000  # labels central may call merged in one heartbeat; a bundle has a few hundred


class NoModel(Exception):
    """No verified bundle has been installed yet."""


@dataclass
class Config:
    central: str
    data_dir: Path
    enrol_token: str | None = None
    name: str = ""
    outbox_capacity: int = 100_000
    batch_size: int = 500
    heartbeat_s: float | None = None  # None: what central says
    forward_interval_s: float = 0.5
    retrain_min_labelled: int = 40
    retrain_every: int = 40
    threads: int = 1


def capabilities(data_dir: Path | None = None) -> dict[str, Any]:
    """What central's placement needs to know about this machine; stable values only, so that an
    unchanged machine does not make central decide its placement again at every heartbeat."""
    memory_mb = storage_gb = None
    with contextlib.suppress(ValueError, OSError, AttributeError):
        memory_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)
    if data_dir is not None:
        with contextlib.suppress(OSError):
            storage_gb = shutil.disk_usage(data_dir).free // 1024**3
    return {
        "cpu_cores": os.cpu_count(),
        "memory_mb": memory_mb,
        "storage_gb": storage_gb,
        "providers": ort.get_available_providers(),
        # The agent serves and retrains on the CPU (edge_agent.sessions builds every session with
        # the CPU provider), so no provider speeds it up; the stock wheel lists Azure's remote
        # provider too, which central's placement once took for a local accelerator.
        "accelerator": "",
        "platform": platform.platform(),
        "agent_version": __version__,
    }


def _on_central(url: object) -> bool:
    """Only paths on central itself: the agent token must never be sent to another host."""
    return str(url or "").startswith("/api/v1/edge/bundles/")


class Agent:
    def __init__(self, config: Config):
        self.config = config
        self.data_dir = Path(config.data_dir)
        for folder in ("bundles", "inbox", "done", "rejected"):
            (self.data_dir / folder).mkdir(parents=True, exist_ok=True)
        self.outbox = Outbox(self.data_dir / "outbox.sqlite3", capacity=config.outbox_capacity)
        self.state: dict[str, Any] = {}
        self.client = CentralClient(config.central)
        self.model: Model | EtlModel | None = None
        self.placement: dict[str, Any] | None = None
        self.heartbeat_s = config.heartbeat_s or 30.0
        self._refused: set[str] = set()
        self._stop = threading.Event()
        self._wake_forwarder = threading.Event()
        self.lock = threading.Lock()  # serialises swaps and retraining, never predictions
        self.heartbeat = HeartbeatLoop(self, self._stop)
        self.forwarder = ForwarderLoop(self, self._stop, self._wake_forwarder)
        self.learner = Learner(self)

    # --- identity ---

    @property
    def state_file(self) -> Path:
        return self.data_dir / "agent.json"

    def enrol(self) -> None:
        """Enrol once; afterwards the stored agent token and pinned key are used."""
        if self.state_file.exists():
            self.state = json.loads(self.state_file.read_text())
        else:
            if not self.config.enrol_token:
                raise SystemExit("not enrolled yet: give --enrol TOKEN")
            answer = self.client.enrol(
                token=self.config.enrol_token,
                name=self.config.name or platform.node() or "agent",
                capabilities=capabilities(self.data_dir),
            )
            self.state = {
                "agent_id": answer["agent_id"],
                "agent_token": answer["agent_token"],
                "site": answer["site"],
                "public_key_pem": answer["public_key_pem"],
                "central": self.config.central,
            }
            self._save_state()
            if not self.config.heartbeat_s:
                self.heartbeat_s = float(answer.get("heartbeat_s") or 30)
            logger.info("enrolled as agent %s for site %s", answer["agent_id"], answer["site"]["code"])
        self.client.token = self.state["agent_token"]
        self._load_installed()

    def _save_state(self) -> None:
        part = self.state_file.with_suffix(".part")
        part.write_text(json.dumps(self.state, indent=2))
        part.chmod(0o600)  # it holds the agent token
        os.replace(part, self.state_file)

    @property
    def site(self) -> dict[str, Any]:
        return self.state.get("site") or {}

    @property
    def merged(self) -> dict[str, str]:
        """The installed bundle's labels that central has merged into another code, with the code
        kept for each: answered as that code (``bundle.ranked``). Kept on disk, so an agent that
        restarts while central is away still answers them so."""
        return self.state.get("merged") or {}

    def take_merged(self, merged: object) -> None:
        """Keep what central's heartbeat says of merged codes (ignored unless label -> code strings)."""
        if not isinstance(merged, dict) or len(merged) > MAX_MERGED:
            return
        if not all(isinstance(k, str) and isinstance(v, str) and k and v for k, v in merged.items()):
            return
        if merged != self.merged:
            logger.info("central merged codes the installed bundle learnt: %s", merged)
            self.state["merged"] = merged
            self._save_state()

    # --- bundles ---

    def _load_installed(self) -> None:
        current = self.data_dir / "bundles" / "current.json"
        if not current.exists():
            return
        info: dict[str, Any] = {}
        try:
            info = json.loads(current.read_text())
            model = load_model(self.data_dir / "bundles" / info["file"], self.state["public_key_pem"])
        except (BundleError, OSError, ValueError, KeyError, TypeError) as e:
            # Forget it: while the pointer names its sha256, every assignment of that bundle
            # looked installed (and its download answered 304), so the agent never served again.
            logger.error(
                "the installed bundle %s no longer verifies: %s; fetching it again",
                info.get("version") if isinstance(info, dict) else None,
                e,
            )
            current.unlink(missing_ok=True)
            self._serve_earlier(info.get("file") if isinstance(info, dict) else None)
            return
        head_file = self.data_dir / "local_head.npz"
        if head_file.exists():
            arrays = np.load(head_file)
            if str(arrays["version"]) == model.version:
                model = model.with_head(Head(W=arrays["W"], b=arrays["b"], origin="local"))
        self.model = model

    def _serve_earlier(self, damaged: Any) -> None:
        """Serve the newest earlier bundle that still verifies, until central's copy of the damaged
        one comes back (no pointer is written: the assignment downloads it whole)."""
        directory = self.data_dir / "bundles"
        for path in bundle_store.earlier(
            directory, directory / damaged if isinstance(damaged, str) else None
        ):
            try:
                self.model = load_model(path, self.state["public_key_pem"], threads=self.config.threads)
            except BundleError as e:
                logger.error("the earlier bundle %s does not verify either: %s", path.name, e)
                continue
            logger.warning(
                "serving the earlier bundle %s until the installed one is fetched again", path.name
            )
            return

    def install(
        self,
        path: Path,
        *,
        expected_sha256: str | None = None,
        identity_sha256: str | None = None,
        transfer: dict[str, Any] | None = None,
    ) -> bool:
        """Verify a downloaded bundle and swap it in; on any failure keep serving the old model.

        ``identity_sha256``: the sha256 central announced for a bundle rebuilt here from a delta
        (the rebuilt zip's own bytes differ; its files and signed manifest do not).
        """
        digest = sha256_file(path)
        try:
            if expected_sha256 and digest != expected_sha256:
                raise BundleError("the download does not match the sha256 central announced")
            model = load_model(path, self.state["public_key_pem"], threads=self.config.threads)
        except BundleError as e:
            self._refused.add(digest)
            if expected_sha256:
                self._refused.add(expected_sha256)
            logger.error(
                "REFUSED bundle %s: %s; still serving %s", path.name, e, self.model_version or "nothing"
            )
            path.unlink(missing_ok=True)
            self.report(
                "bundle_refused",
                {"file": path.name, "sha256": digest, "error": str(e), "serving": self.model_version},
            )
            return False
        with self.lock:
            final = self.data_dir / "bundles" / f"{model.version}.zip"
            os.replace(path, final)
            pointer = self.data_dir / "bundles" / "current.json"
            installed = {"version": model.version, "file": final.name, "sha256": identity_sha256 or digest}
            pointer.with_suffix(".part").write_text(json.dumps(installed))
            os.replace(pointer.with_suffix(".part"), pointer)
            previous, self.model = self.model, model
            (self.data_dir / "local_head.npz").unlink(missing_ok=True)
            bundle_store.prune(final.parent, final)
        logger.info("serving bundle %s (was %s)", model.version, previous.version if previous else "nothing")
        self.report(
            "bundle_installed",
            {
                "version": model.version,
                "previous": previous.version if previous else None,
                **(transfer or {}),
            },
        )
        return True

    def _current(self) -> dict[str, Any] | None:
        current = self.data_dir / "bundles" / "current.json"
        return json.loads(current.read_text()) if current.exists() else None

    def _installed_sha256(self) -> str | None:
        return (self._current() or {}).get("sha256")

    def apply_assignment(self, assignment: dict[str, Any] | None) -> None:
        if not assignment:
            return
        wanted = assignment["sha256"]
        if wanted == self._installed_sha256() or wanted in self._refused:
            return
        if not _on_central(assignment.get("bundle_url")):
            logger.error(
                "ignoring an assignment with an unexpected bundle URL: %r", assignment.get("bundle_url")
            )
            return
        transfer = {"full_bytes": assignment.get("bytes")}
        if self._install_delta(assignment, transfer):
            return
        target = self.data_dir / "bundles" / f"download-{uuid.uuid4().hex}.zip"
        if self.client.download(assignment["bundle_url"], target, etag=self._installed_sha256()):
            size = target.stat().st_size
            transfer.update(via="full", bytes_downloaded=int(transfer.get("bytes_downloaded") or 0) + size)
            self.install(target, expected_sha256=wanted, transfer=transfer)

    def _install_delta(self, assignment: dict[str, Any], transfer: dict[str, Any]) -> bool:
        """Update through the offered delta; False (the full bundle is needed) when there is none
        for the installed bundle or it fails any check, while the old model keeps serving."""
        url, delta_sha256 = assignment.get("delta_url"), assignment.get("delta_sha256")
        current = self._current()
        if not url or not delta_sha256 or delta_sha256 in self._refused or current is None:
            return False
        if not _on_central(url):
            logger.error("ignoring a delta with an unexpected URL: %r", url)
            return False
        if assignment.get("base_version") != current.get("version"):
            logger.info(
                "the offered delta patches %s, not the installed %s: fetching the full bundle",
                assignment.get("base_version"),
                current.get("version"),
            )
            return False
        download = self.data_dir / "bundles" / f"delta-{uuid.uuid4().hex}.zip"
        rebuilt = self.data_dir / "bundles" / f"rebuilt-{uuid.uuid4().hex}.zip"
        try:
            self.client.download(url, download)
            size = download.stat().st_size
            transfer.update(
                delta_version=assignment.get("delta_version"), delta_bytes=size, bytes_downloaded=size
            )
            if sha256_file(download) != delta_sha256:
                raise BundleError("the delta download does not match the sha256 central announced")
            rebuild_from_delta(
                download, self.data_dir / "bundles" / current["file"], rebuilt, self.state["public_key_pem"]
            )
        except (BundleError, DeltaError) as e:
            self._refused.add(delta_sha256)
            logger.error(
                "REFUSED delta %s: %s; still serving %s, fetching the full bundle",
                assignment.get("delta_version"),
                e,
                self.model_version or "nothing",
            )
            self.report(
                "delta_refused",
                {
                    "delta_version": assignment.get("delta_version"),
                    "error": str(e),
                    "serving": self.model_version,
                },
            )
            transfer["delta_refused"] = str(e)
            return False
        finally:
            download.unlink(missing_ok=True)
        transfer["via"] = "delta"
        return self.install(rebuilt, identity_sha256=assignment["sha256"], transfer=transfer)

    @property
    def model_version(self) -> str:
        return self.model.served_version if self.model is not None else ""

    # --- predicting ---

    def context_for(self, context: dict[str, Any] | None) -> dict[str, Any]:
        site = {k: self.site.get(k) for k in ("code", "region", "climate", "tier") if self.site.get(k)}
        return {**site, **(context or {})}

    def remember(
        self, document: dict[str, Any], context: dict[str, Any] | None = None, *, text: str | None = None
    ) -> None:
        """Keep a labelled ticket of this site for local learning (it stays here)."""
        if text is None:
            model = self.model
            text = model.texts([document], [self.context_for(context)])[0] if model is not None else ""
        ident = f"{document.get('source') or 'edge'}/{document.get('external_id')}"
        self.outbox.add_labelled(ident, str(document["resolution"]), text, document)

    def predict(
        self,
        document: dict[str, Any],
        *,
        context: dict[str, Any] | None = None,
        progress: tuple[str, int] | None = None,
        top_k: int = 3,
    ) -> dict[str, Any]:
        """Recommend resolutions for one ticket and queue the prediction for central.

        The answer abstains by central's rule (edge_agent.abstention): ``abstained`` with a plain
        ``abstain_reason`` below the bundle's Medium threshold or when the ticket is ``unfamiliar``.
        Raises NoModel before a bundle is installed and OutboxFull when central has been away too long.
        """
        model = self.model  # one read: a swap during this call does not affect it
        if model is None:
            raise NoModel("no bundle installed yet")
        self.outbox.ensure_room()
        started = time.perf_counter()
        text = model.texts([document], [self.context_for(context)])[0]
        probabilities = model.predict_one(text)
        latency_ms = (time.perf_counter() - started) * 1000
        recommendations = ranked(model.labels, probabilities, top_k, model.served_records, self.merged)
        unfamiliar = abstention.unfamiliar(text, model.vocabulary)
        why = abstention.reason(recommendations, medium=model.confidence_medium, unfamiliar=unfamiliar)
        key = str(uuid.uuid4())
        record = {
            "idempotency_key": key,
            "source": str(document.get("source") or "edge"),
            "external_id": str(document.get("external_id") or key),
            "model_version": model.served_version,
            "resolution": recommendations[0]["resolution"],
            "confidence": recommendations[0]["confidence"],
            "latency_ms": round(latency_ms, 3),
            "input_fingerprint": hashlib.sha256(text.encode()).hexdigest(),
            "abstained": why is not None,
            "abstain_reason": why,
            "predicted_at": datetime.now(UTC).isoformat(),
        }
        self.outbox.add(key, record, progress=progress)
        self._wake_forwarder.set()
        if document.get("resolution"):
            self.remember(document, context, text=text)
        return {
            "prediction_id": key,
            "model_version": model.served_version,
            "recommendations": recommendations,
            "unfamiliar": unfamiliar,
            "abstained": record["abstained"],
            "abstain_reason": why,
            "latency_ms": record["latency_ms"],
        }

    # --- talking to central ---

    def report(self, kind: str, metrics: dict[str, Any]) -> None:
        try:
            self.client.report(kind, metrics)
        except (CentralError, *TRANSIENT) as e:
            logger.warning("could not report %s to central: %s", kind, e)

    def heartbeat_once(self) -> None:
        self.heartbeat.step()

    def forward_once(self) -> int:
        """Post one batch from the outbox; returns how many central acknowledged."""
        return self.forwarder.forward_once()

    @property
    def pattern(self) -> int | None:
        """The placement pattern central decided for this site (None: not decided or not known)."""
        return ((self.placement or {}).get("decision") or {}).get("pattern")

    def follow_placement(self, placement: dict[str, Any] | None) -> None:
        """Take central's placement. Leaving pattern 3 (or 2) for another decided pattern, serve the
        installed bundle again: a model trained here on central's ETL (or the site's own) belongs to
        that pattern, and the bundle's assignment, already installed, would never bring it back."""
        self.placement = placement
        model = self.model
        if self.pattern is None or model is None or isinstance(model, Model) or model.pattern == self.pattern:
            return  # None: no decision known, so nothing to leave the model's pattern for
        with self.lock:
            left = self.model_version
            self._load_installed()
        if self.model_version != left:
            logger.info(
                "placement is now pattern %s: serving %s again, not %s",
                self.pattern,
                self.model_version,
                left,
            )

    def maybe_learn(self) -> dict[str, Any] | None:
        return self.learner.maybe_learn()

    def maybe_train_etl(self) -> dict[str, Any] | None:
        return self.learner.maybe_train_etl()

    def maybe_retrain(self) -> dict[str, Any] | None:
        return self.learner.maybe_retrain()

    # --- loops ---

    def start_background(self) -> list[threading.Thread]:
        return [self.heartbeat.start(), self.forwarder.start()]

    def stop(self) -> None:
        self._stop.set()
        self._wake_forwarder.set()


__all__ = ["Agent", "Config", "NoModel", "OutboxFull", "capabilities"]
