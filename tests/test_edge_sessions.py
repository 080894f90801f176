"""The agent times a few onnxruntime session option sets at load and serves the student under the
fastest on this host (edge_agent.sessions); a pin skips the timing."""

import gc
import logging
import weakref

import numpy as np
import pytest

from edge_agent import bundle as edge_bundle
from edge_agent import sessions
from ml.core import signing
from tests.edge_fixtures import build_test_bundle, signing_key, simulated_documents  # noqa: F401

pytestmark = pytest.mark.usefixtures("signing_key")


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeSession:
    """A session whose every run takes ``ms`` on the fake clock, and which counts its runs."""

    def __init__(self, clock: Clock, ms: float):
        self.clock, self.ms, self.runs = clock, ms, 0

    def run(self, output_names, input_feed):
        self.runs += 1
        self.clock.now += self.ms / 1000


FEEDS = sessions.synthetic_feeds(["input_ids", "attention_mask"], 96, 30522)


def test_the_fastest_candidate_is_chosen_and_each_one_timed_the_same_number_of_rounds():
    clock = Clock()
    runners = {"agent": FakeSession(clock, 2.0), "b": FakeSession(clock, 1.0), "c": FakeSession(clock, 1.5)}
    name, medians, rounds = sessions.choose(runners, FEEDS, timer=clock, rounds=5, budget_s=10)
    assert name == "b" and rounds == 5
    assert medians == {"agent": 6.0, "b": 3.0, "c": 4.5}  # ms for one round of the 3 inputs
    # one untimed warm-up run of every input, then every input once a round
    assert {r.runs for r in runners.values()} == {len(FEEDS) * 6}


def test_the_first_candidate_stays_unless_another_is_clearly_faster():
    clock = Clock()
    runners = {"agent": FakeSession(clock, 1.0), "b": FakeSession(clock, 0.97)}
    assert sessions.choose(runners, FEEDS, timer=clock, margin=0.05)[0] == "agent"
    assert sessions.choose(runners, FEEDS, timer=clock, margin=0.0)[0] == "b"
    assert sessions.choose({"agent": FakeSession(clock, 1.0)}, FEEDS, timer=clock)[0] == "agent"


def test_the_timing_stops_at_its_budget_after_the_minimum_rounds():
    clock = Clock()
    slow = {"agent": FakeSession(clock, 100.0), "b": FakeSession(clock, 200.0)}  # 0.9 s a round
    _, _, rounds = sessions.choose(slow, FEEDS, timer=clock, rounds=9, min_rounds=3, budget_s=0.4)
    assert rounds == 3
    fast = {"agent": FakeSession(clock, 0.01), "b": FakeSession(clock, 0.02)}
    assert sessions.choose(fast, FEEDS, timer=clock, rounds=9, budget_s=0.4)[2] == 9


def test_the_synthetic_inputs_span_the_bundle_length_and_carry_token_types_when_asked():
    feeds = sessions.synthetic_feeds(["input_ids", "attention_mask", "token_type_ids"], 96, 100)
    assert [f["input_ids"].shape for f in feeds] == [(1, 32), (1, 64), (1, 96)]
    assert all(f["input_ids"].max() < 100 and f["attention_mask"].all() for f in feeds)
    assert all(not f["token_type_ids"].any() for f in feeds)


def test_a_loaded_bundle_records_the_options_its_timing_chose(tmp_path, monkeypatch):
    monkeypatch.delenv(sessions.ENV_PIN, raising=False)
    path = build_test_bundle(tmp_path / "b1.zip", version="b1")
    model = edge_bundle.load_model(path, signing.public_key_pem())
    choice = model.session_choice
    names = [c.name for c in sessions.CANDIDATES]
    assert choice["how"] == "timed" and choice["name"] in names and set(choice["round_ms"]) == set(names)
    duels = len(names) - 1
    assert sessions.MIN_ROUNDS * duels <= choice["rounds"] <= sessions.ROUNDS * duels
    assert [set(d["round_ms"]) - {names[0]} for d in choice["duels"][:1]] == [{names[1]}]
    assert [d["winner"] for d in choice["duels"]][-1] == choice["name"] and len(choice["duels"]) == duels
    for duel, challenger in zip(choice["duels"], names[1:], strict=True):
        assert challenger in duel["round_ms"] and duel["winner"] in duel["round_ms"]
    assert choice["tuning_ms"] < 5000
    options = model.session.get_session_options()
    assert choice["intra_op_threads"] == options.intra_op_num_threads
    assert model.with_head(model.shipped_head).session_choice == choice


@pytest.mark.parametrize("name", [c.name for c in sessions.CANDIDATES])
def test_every_candidate_predicts_what_the_agent_options_predict(tmp_path, monkeypatch, name):
    path = build_test_bundle(tmp_path / "b1.zip", version="b1")
    reference = edge_bundle.load_model(path, signing.public_key_pem(), pin="agent")
    texts = reference.texts(simulated_documents(10), [None] * 10)
    monkeypatch.setenv(sessions.ENV_PIN, name)
    pinned = edge_bundle.load_model(path, signing.public_key_pem())
    assert pinned.session_choice["name"] == name and pinned.session_choice["how"] == "pinned"
    for text in texts:
        assert np.allclose(pinned.predict_one(text), reference.predict_one(text), atol=1e-6)


def test_the_agent_options_run_on_one_thread_in_sequence_without_spinning(tmp_path):
    path = build_test_bundle(tmp_path / "b1.zip", version="b1")
    model = edge_bundle.load_model(path, signing.public_key_pem(), pin="agent")
    options = model.session.get_session_options()
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (1, 1)
    assert options.execution_mode == edge_bundle.ort.ExecutionMode.ORT_SEQUENTIAL
    assert options.graph_optimization_level == edge_bundle.ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert model.session_choice["execution_mode"] == "ORT_SEQUENTIAL"


def test_an_unknown_pin_is_logged_and_the_candidates_timed(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv(sessions.ENV_PIN, "warp_drive")
    path = build_test_bundle(tmp_path / "b1.zip", version="b1")
    with caplog.at_level(logging.WARNING, logger="edge_agent"):
        model = edge_bundle.load_model(path, signing.public_key_pem())
    assert "warp_drive names no session candidate" in caplog.text and model.session_choice["how"] == "timed"


def test_a_single_candidate_is_used_without_timing(tmp_path):
    path = build_test_bundle(tmp_path / "b1.zip", version="b1")
    only = (sessions.Candidate("mine", sessions.default_options),)
    model = edge_bundle.load_model(path, signing.public_key_pem(), candidates=only)
    assert (model.session_choice["name"], model.session_choice["how"]) == ("mine", "only")


def test_the_candidates_meet_in_duels_with_two_sessions_alive_at_most(tmp_path, monkeypatch):
    monkeypatch.delenv(sessions.ENV_PIN, raising=False)
    path = build_test_bundle(tmp_path / "b1.zip", version="b1")
    built, alive_at_build = [], []
    make = sessions._session

    def tracked(model, candidate, threads):
        gc.collect()
        alive_at_build.append(sum(ref() is not None for ref in built))
        session = make(model, candidate, threads)
        built.append(weakref.ref(session))
        return session

    monkeypatch.setattr(sessions, "_session", tracked)
    edge_bundle.load_model(path, signing.public_key_pem())
    assert len(built) == len(sessions.CANDIDATES) and max(alive_at_build) == 1
