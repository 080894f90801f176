"""Real processes: a gunicorn central on the test PostgreSQL, a Celery worker and `python -m edge_agent`
agents.

Central dies mid-stream (SIGKILL, so answers can be lost after a commit) and comes back; every
prediction arrives exactly once. Meanwhile a new bundle is released: the worker builds the delta
from the version the fleet runs and only then offers the bundle, and every agent updates through
that delta. A bundle swap under load drops no request, and a tampered bundle is refused while the
agent keeps serving the model it had.
"""

import hashlib
import json
import threading
import zipfile

import pytest
from django_celery_results.models import TaskResult

from ml.core import bundles
from ml.fleet import edge
from ml.models import EdgeAgent, EdgeBundle, EdgePrediction, EdgeReport
from tests.edge_fixtures import (
    AgentProcess,
    CeleryWorker,
    Central,
    build_test_bundle,
    signing_key,  # noqa: F401
    simulated_documents,
    wait_until,
)
from tests.factories import SiteFactory

pytestmark = pytest.mark.slow
WAIT_S = 90


@pytest.fixture
def fleet(transactional_db, request, settings, tmp_path):
    """Starts central, a worker and agents; stops every process whatever happens."""
    request.getfixturevalue("signing_key")
    central = Central(tmp_path / "central", settings.TICKETAI_BUNDLE_SIGNING_KEY)
    settings.TICKETAI_EDGE_BUNDLE_DIR = tmp_path / "central" / "bundles"
    agents: list[AgentProcess | CeleryWorker] = []

    def start_agent(site, name: str) -> AgentProcess:
        _, token = edge.enrolment_token_issue(site=site)
        agent = AgentProcess(central.url, token, tmp_path / name, "--name", name, "--batch-size", "7")
        agents.append(agent)
        return agent

    def start_worker() -> CeleryWorker:
        worker = CeleryWorker(central.env, tmp_path / "worker.log")
        agents.append(worker)
        return worker

    try:
        yield central, start_agent, start_worker
    finally:
        for agent in agents:
            agent.stop()
        central.stop()


def _serving(agent: AgentProcess, version: str) -> bool:
    return agent.health().get("model_version") == version


def test_every_prediction_reaches_central_exactly_once_across_a_central_outage(fleet, tmp_path):
    central, start_agent, start_worker = fleet
    worker = start_worker()  # it comes up while central and the agents do
    bundles.bundle_register(path=build_test_bundle(tmp_path / "bundles" / "b1.zip", version="b1"))
    central.start()
    sites = [SiteFactory(code=f"CS-{name}-001") for name in ("COAST", "HOT", "COLD")]
    agents = [start_agent(site, f"agent-{i}") for i, site in enumerate(sites)]
    for agent in agents:
        assert wait_until(lambda agent=agent: _serving(agent, "b1"), timeout=WAIT_S), agent.logs()
    assert wait_until(lambda: EdgeAgent.objects.filter(model_version="b1").count() == 3, timeout=WAIT_S)

    documents = simulated_documents(72)
    chunks = [documents[i : i + 12] for i in range(0, 72, 12)]  # 2 phases x 3 agents x 12 tickets
    for agent, chunk in zip(agents, chunks[:3], strict=True):
        for document in chunk[:6]:
            assert agent.predict(document).status_code == 200
        agent.drop_in_inbox("before.jsonl", chunk[6:])

    central.stop()  # SIGKILL: a batch may be committed with its answer lost
    # b2 (the same encoder, a new head) is released while central is down: unoffered until the worker has
    # built the delta from b1, which the whole fleet runs.
    b2 = edge.bundle_release(
        path=build_test_bundle(tmp_path / "bundles" / "b2.zip", version="b2", head_seed=5)
    )
    assert not b2.active
    for agent, chunk in zip(agents, chunks[3:], strict=True):
        for document in chunk[:6]:
            response = agent.predict(document)
            assert response.status_code == 200, response.text  # still predicting, buffering
        agent.drop_in_inbox("during.jsonl", chunk[6:])
    assert wait_until(lambda: all(a.health()["backlog"] > 0 for a in agents), timeout=WAIT_S)

    central.start()
    assert wait_until(
        lambda: EdgePrediction.objects.count() >= 72 and all(a.health()["backlog"] == 0 for a in agents),
        timeout=WAIT_S,
    ), [a.logs() for a in agents]

    stored = list(EdgePrediction.objects.values_list("source", "external_id", "site__code"))
    assert len(stored) == 72
    assert sorted((s, e) for s, e, _ in stored) == sorted((d["source"], d["external_id"]) for d in documents)
    for agent, site, phase_a, phase_b in zip(agents, sites, chunks[:3], chunks[3:], strict=True):
        mine = {e for _, e, code in stored if code == site.code}
        assert mine == {d["external_id"] for d in phase_a + phase_b}
        assert sorted(p.name for p in (agent.data_dir / "done").iterdir()) == ["before.jsonl", "during.jsonl"]
    assert wait_until(
        lambda: EdgeAgent.objects.filter(backlog=0, model_version="b2").count() == 3, timeout=WAIT_S
    ), [a.logs() for a in agents]

    # The worker did the publication: its task result, the delta it built, the offer it made;
    # and every agent updated through that delta, downloading a fraction of the full bundle.
    delta = EdgeBundle.objects.get(kind="delta")
    assert (delta.base_version, delta.metrics["target_version"]) == ("b1", "b2")
    results = TaskResult.objects.filter(task_name="ml.tasks.edge_publish_bundle", status="SUCCESS")
    published = [json.loads(r.result) for r in results if json.loads(r.result).get("bundle") == "b2"]
    assert published == [
        {"bundle": "b2", "status": "published", "deltas": [delta.version], "skipped": [], "offered": True}
    ], worker.logs()
    installs = [r for r in EdgeReport.objects.filter(kind="bundle_installed") if r.metrics["version"] == "b2"]
    assert sorted(r.agent.site.code for r in installs) == sorted(s.code for s in sites)
    for report in installs:
        assert report.metrics["via"] == "delta" and report.metrics["bytes_downloaded"] == delta.bytes
        assert delta.bytes * 20 < report.metrics["full_bytes"] == b2.bytes


def _tamper(path, out):
    with zipfile.ZipFile(path) as original, zipfile.ZipFile(out, "w") as copy:
        for item in original.infolist():
            data = original.read(item.filename)
            copy.writestr(
                item.filename,
                b'["PWNED", "PWNED", "PWNED", "PWNED"]' if item.filename == "labels.json" else data,
            )


def test_the_agent_swaps_bundles_without_dropping_requests_and_refuses_a_tampered_one(fleet, tmp_path):
    central, start_agent, _ = fleet
    site = SiteFactory(code="CS-COAST-002")
    bundles_dir = tmp_path / "bundles"
    bundles.bundle_register(path=build_test_bundle(bundles_dir / "b1.zip", version="b1"), intended_site=site)
    central.start()
    agent = start_agent(site, "agent-swap")
    assert wait_until(lambda: _serving(agent, "b1"), timeout=WAIT_S), agent.logs()

    document = simulated_documents(1)[0]
    answers, stop = [], threading.Event()

    def hammer():
        while not stop.is_set():
            response = agent.predict(document)
            answers.append((response.status_code, response.json().get("model_version")))

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        bundles.bundle_register(
            path=build_test_bundle(bundles_dir / "b2.zip", version="b2", seed=5), intended_site=site
        )
        assert wait_until(lambda: _serving(agent, "b2"), timeout=WAIT_S), agent.logs()
        wait_until(lambda: answers[-1][1] == "b2", timeout=10)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert {status for status, _ in answers} == {200}
    assert {"b1", "b2"} <= {version for _, version in answers}

    # Someone who can change the file and the database, but not the key, ships b3.
    good = build_test_bundle(bundles_dir / "b3-good.zip", version="b3", seed=9)
    tampered = bundles_dir / "b3.zip"
    _tamper(good, tampered)
    bundle = bundles.bundle_register(path=good, intended_site=site)
    EdgeBundle.objects.filter(pk=bundle.pk).update(
        path=str(tampered),
        sha256=hashlib.sha256(tampered.read_bytes()).hexdigest(),
        bytes=tampered.stat().st_size,
    )
    assert wait_until(lambda: EdgeReport.objects.filter(kind="bundle_refused").exists(), timeout=WAIT_S), (
        agent.logs()
    )
    report = EdgeReport.objects.get(kind="bundle_refused")
    assert (
        "checksum mismatch for labels.json" in report.metrics["error"] and report.metrics["serving"] == "b2"
    )
    assert _serving(agent, "b2")
    response = agent.predict(document)
    assert response.status_code == 200 and response.json()["model_version"] == "b2"
    assert "PWNED" not in response.text
    assert not (agent.data_dir / "bundles" / "b3.zip").exists()
