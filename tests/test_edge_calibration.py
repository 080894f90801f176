"""The edge applies the calibration its bundle carries to the shipped model's probabilities."""

import numpy as np
import pytest

from edge_agent import bundle as edge_bundle
from edge_agent.calibration import Calibration
from ml.core import signing
from tests.edge_fixtures import build_test_bundle, signing_key  # noqa: F401

pytestmark = pytest.mark.usefixtures("signing_key")

TEXTS = ["[codes] SFP_RX_LOW [text] link down", "[text] mains failure", "[codes] SW_CRASH"]
HUMBLE = Calibration(x=np.array([0.0, 1.0]), y=np.array([0.0, 0.6]), cap=0.6).to_json()


def test_a_bundle_with_a_calibration_serves_calibrated_probabilities(tmp_path):
    plain = edge_bundle.load_model(
        build_test_bundle(tmp_path / "a.zip", version="a"), signing.public_key_pem()
    )
    calibrated = edge_bundle.load_model(
        build_test_bundle(tmp_path / "b.zip", version="b", calibration=HUMBLE), signing.public_key_pem()
    )

    raw = plain.predict_proba(TEXTS)
    served = calibrated.predict_proba(TEXTS)

    assert plain.calibration is None
    assert np.allclose(served, Calibration.from_json(HUMBLE).apply(raw))
    assert served.max() <= 0.6 and np.allclose(served.sum(axis=1), 1.0)
    assert (served.argmax(axis=1) == raw.argmax(axis=1)).all()


def test_a_locally_retrained_head_is_not_bent_by_the_shipped_models_calibration(tmp_path):
    model = edge_bundle.load_model(
        build_test_bundle(tmp_path / "b.zip", version="b", calibration=HUMBLE), signing.public_key_pem()
    )
    local = model.with_head(
        edge_bundle.Head(W=model.shipped_head.W * 3, b=model.shipped_head.b, origin="local")
    )

    _, features = local.run(TEXTS)
    assert local.calibration is not None
    assert np.allclose(local.predict_proba(TEXTS), edge_bundle.softmax(local.head.logits(features)))


def test_a_signed_bundle_with_a_broken_calibration_is_refused(tmp_path):
    broken = {**HUMBLE, "y": [0.9, 0.1]}
    path = build_test_bundle(tmp_path / "c.zip", version="c", calibration=broken)
    with pytest.raises(edge_bundle.BundleError, match="does not load"):
        edge_bundle.load_model(path, signing.public_key_pem())


def test_one_row_is_calibrated_bit_for_bit_as_the_batch_path_calibrates_it():
    rng = np.random.default_rng(7)
    knots = np.sort(rng.uniform(0, 1, 40))
    calibrations = [
        Calibration.from_json(HUMBLE),
        Calibration(x=knots, y=np.sort(rng.uniform(0, 1, 40)), cap=0.97),
        Calibration(x=np.array([0.5]), y=np.array([0.02]), cap=0.9),  # the map below the runner-up
    ]
    logits = rng.normal(0, 4, (300, 6))
    rows = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    special = np.array([[1.0, 0, 0, 0, 0, 0], [0.5, 0.5, 0, 0, 0, 0], [1 / 6] * 6, [0.4, 0.3, 0.3, 0, 0, 0]])
    for calibration in calibrations:
        for row in np.vstack([rows, special]):
            assert np.array_equal(calibration.apply_one(row), calibration.apply(row[None])[0])
    assert np.array_equal(calibrations[0].apply_one(np.array([1.0])), np.array([1.0]))
