"""One prediction at the edge: the agent's single-ticket path answers what the batch path does,
its profile adds up, and the benchmark knows which CPU it ran on."""

import numpy as np
import pytest

from benchmarks.edge_profile import FLAGS_OF_INTEREST, STAGES, cpu_info, profile
from edge_agent import bundle as edge_bundle
from edge_agent.bundle import Head
from edge_agent.calibration import Calibration
from ml.core import signing
from tests.edge_fixtures import LABELS, build_test_bundle, signing_key, simulated_documents  # noqa: F401

pytestmark = pytest.mark.usefixtures("signing_key")

CONTEXT = {"climate": "coastal", "tier": "cell-site"}


@pytest.fixture
def model(tmp_path):
    path = build_test_bundle(tmp_path / "b1.zip", version="b1")
    return edge_bundle.load_model(path, signing.public_key_pem())


def test_one_ticket_gets_the_probabilities_of_the_batch_path_with_the_shipped_or_a_local_head(
    model, tmp_path
):
    texts = model.texts(simulated_documents(20), [CONTEXT] * 20)
    rng = np.random.default_rng(1)
    weights, bias = rng.normal(size=model.shipped_head.W.shape), rng.normal(size=len(LABELS))
    local = model.with_head(Head(W=weights.astype(np.float32), b=bias.astype(np.float32), origin="local"))
    humble = Calibration(x=np.array([0.0, 1.0]), y=np.array([0.0, 0.6]), cap=0.6).to_json()
    path = build_test_bundle(tmp_path / "c.zip", version="c", calibration=humble)
    calibrated = edge_bundle.load_model(path, signing.public_key_pem())
    assert calibrated.predict_one(texts[0]).max() <= 0.6 + 1e-9
    for served in (model, local, calibrated):
        batch = served.predict_proba(texts)
        one = np.stack([served.predict_one(text) for text in texts])
        assert np.allclose(one, batch, atol=1e-5) and np.allclose(one.sum(axis=1), 1.0)
    assert (local.predict_proba(texts).argmax(1) != model.predict_proba(texts).argmax(1)).any()


def test_the_profile_breakdown_sums_to_the_p50_within_tolerance(model):
    documents = simulated_documents(50)
    result = profile(model, documents, [CONTEXT] * len(documents), count=300)

    assert tuple(result["stages_ms"]) == tuple(result["stage_p50_ms"]) == STAGES and result["calls"] == 300
    assert all(ms > 0 for ms in result["stages_ms"].values())
    # The breakdown of the median call covers the whole call: it adds up to the p50.
    assert sum(result["stages_ms"].values()) == pytest.approx(result["stages_sum_ms"], abs=1e-3)
    assert result["stages_sum_ms"] == pytest.approx(result["p50_ms"], rel=0.15)
    assert 0 < result["session_run_share"] < 1


def test_the_cpu_info_names_the_model_vendor_and_int8_flags_of_this_host():
    info = cpu_info()
    assert info["model"] and info["model"] != "unknown" and info["vendor"] != "unknown"
    assert info["logical_cpus"] >= 1 and info["machine"] and info["platform"]
    assert set(info["flags"]) <= set(FLAGS_OF_INTEREST)
    with open("/proc/cpuinfo") as f:
        line = next(line for line in f if line.startswith("flags"))
    assert set(info["flags"]) == set(line.split(":", 1)[1].split()) & set(FLAGS_OF_INTEREST)


def test_the_cpu_info_of_an_arm_host_reads_its_features(tmp_path):
    (tmp_path / "cpuinfo").write_text(
        "processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd evtstrm aes asimddp i8mm sve\n"
        "CPU implementer\t: 0x41\nCPU part\t: 0xd40\n\nprocessor\t: 1\nFeatures\t: fp\n"
    )
    info = cpu_info(tmp_path / "cpuinfo")
    assert info["vendor"] == "0x41" and info["flags"] == ["asimd", "asimddp", "i8mm", "sve"]


def test_the_agent_tokenises_one_ticket_to_the_ids_of_a_plain_encode(model):
    texts = [*model.texts(simulated_documents(60), [CONTEXT] * 60), "", "[empty]", "x " * 400]
    assert any(len(model.tokenizer.encode(text).ids) == model.ones.shape[1] for text in texts)  # cut
    for text in texts:
        assert model.tokenizer.encode_batch_fast([text])[0].ids == model.tokenizer.encode(text).ids
    encodings = model.tokenizer.encode_batch_fast(texts)
    assert [e.ids for e in encodings] == [e.ids for e in model.tokenizer.encode_batch(texts)]
    assert [e.attention_mask for e in encodings] == [
        e.attention_mask for e in model.tokenizer.encode_batch(texts)
    ]
