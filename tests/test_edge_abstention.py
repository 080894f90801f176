"""The agent abstains by central's one rule (ml/serving/confidence.py): below the bundle's Medium
threshold, or about a ticket that holds none of the teacher's distinctive tokens, it answers
``abstained`` with central's words. A bundle built before it carried them applies the default
threshold alone; a bundle with a file the agent does not know still loads."""

import json
import zipfile

import pytest

from edge_agent import abstention
from edge_agent import bundle as edge_bundle
from ml.core import bundles, signing
from ml.serving import confidence, ensemble
from tests.edge_fixtures import LABELS, build_test_bundle, offline_agent, signing_key  # noqa: F401

pytestmark = pytest.mark.usefixtures("signing_key")

VOCABULARY = ["sfp_rx_low", "fibre", "link"]  # lower-cased, as the lexical member's vocabulary is
TYPICAL = {"external_id": "T-1", "title": "link down after fibre works", "error_codes": ["SFP_RX_LOW"]}
GIBBERISH = {"external_id": "T-2", "title": "xqzv blorp wibble"}
# With four labels the top answer is always at least 25% likely: the threshold never decides.
NEVER_LOW = {"confidence_medium": 0.25}


def test_the_agent_copies_centrals_words_and_tokens(settings):
    settings.TICKETAI_CONFIDENCE_MEDIUM = 0.5
    assert abstention.UNFAMILIAR == confidence.UNFAMILIAR
    assert abstention.TOKEN_RE.pattern == ensemble.TOKEN_RE.pattern
    assert abstention.CONFIDENCE_MEDIUM == 0.5
    for value in (0.0, 0.004, 0.005, 0.31, 0.4949, 0.5, 0.994, 0.995, 1.0):
        assert abstention.percent(value) == confidence.percent(value)
    for top in (0.31, 0.5, 0.9):
        answers = [{"resolution": "REPLACE_SFP", "confidence": top}, {"resolution": "X", "confidence": 0.1}]
        for unfamiliar in (False, True):
            assert abstention.reason(answers, medium=0.5, unfamiliar=unfamiliar) == confidence.reason(
                answers, [], unfamiliar=unfamiliar
            )
    assert abstention.reason([], medium=0.5, unfamiliar=False) == confidence.reason([], [])
    words = frozenset(VOCABULARY)
    for text in ("[codes] SFP_RX_LOW [text] x", "[text] Fibre|cut", "[text] xqzv", "", "fibre, cut"):
        tokens = ensemble.TOKEN_RE.findall(text.lower())  # as the lexical member reads the input
        assert abstention.unfamiliar(text, words) == (not any(token in words for token in tokens))


def test_a_word_one_typing_slip_from_a_distinctive_one_is_familiar():
    words = frozenset(["fibre", "battery", "sfp_rx_low", "cut", "replace"])
    slips = ["fiber", "fibres", "batery", "batteery", "battrey", "replcae", "Rplace"]
    for text in slips:
        assert not abstention.unfamiliar(f"[text] {text}", words), text
    # two slips, a code one character off, a short word one letter off, letters from a code: unfamiliar
    for text in ("fbiers", "sfp_rx_lox", "cutt", "fibr", "sfp_rx_lo", "drucker druckt nicht", "bat7ery"):
        assert abstention.unfamiliar(f"[text] {text}", words), text


def test_it_abstains_on_an_unfamiliar_ticket_whatever_its_confidence(tmp_path):
    agent = offline_agent(tmp_path, capacity=100, vocabulary=VOCABULARY, manifest_extra=NEVER_LOW)

    answer = agent.predict(GIBBERISH)

    assert answer["unfamiliar"] is True and answer["abstained"] is True
    assert answer["abstain_reason"] == confidence.UNFAMILIAR
    assert answer["recommendations"][0]["confidence"] >= 0.25  # still shown, for the expert


def test_it_recommends_for_a_typical_ticket(tmp_path):
    agent = offline_agent(tmp_path, capacity=100, vocabulary=VOCABULARY, manifest_extra=NEVER_LOW)

    answer = agent.predict(TYPICAL)

    assert (answer["unfamiliar"], answer["abstained"], answer["abstain_reason"]) == (False, False, None)
    assert agent.model.vocabulary == frozenset(VOCABULARY) and agent.model.confidence_medium == 0.25


def test_it_abstains_below_the_bundles_threshold_naming_its_best_guess(tmp_path):
    agent = offline_agent(
        tmp_path, capacity=100, vocabulary=VOCABULARY, manifest_extra={"confidence_medium": 1.0}
    )

    answer = agent.predict(TYPICAL)

    top = answer["recommendations"][0]
    assert answer["unfamiliar"] is False and answer["abstained"] is True
    assert answer["abstain_reason"] == (
        f"The model is unsure: its best guess, {top['resolution']}, "
        f"is only {confidence.percent(top['confidence'])} likely."
    )


def test_a_merged_label_is_judged_as_the_code_kept(tmp_path):
    agent = offline_agent(
        tmp_path, capacity=100, vocabulary=VOCABULARY, manifest_extra={"confidence_medium": 1.0}
    )
    agent.take_merged({label: "REPLACE_SFP" for label in LABELS[1:]})

    answer = agent.predict(TYPICAL)

    # Every label now answers as one code, its chances added up: all but certain, so it recommends.
    assert [r["resolution"] for r in answer["recommendations"]] == ["REPLACE_SFP"]
    assert answer["recommendations"][0]["confidence"] == pytest.approx(1.0)
    agent.take_merged({"REPLACE_SFP": "RESTART_BASEBAND"})
    answer = agent.predict(TYPICAL)
    assert answer["recommendations"][0]["resolution"] in {"RESTART_BASEBAND", *LABELS[2:]}
    assert (
        answer["abstained"] is True and answer["recommendations"][0]["resolution"] in answer["abstain_reason"]
    )


def test_a_bundle_built_before_the_rule_applies_the_default_threshold_alone(tmp_path):
    agent = offline_agent(tmp_path, capacity=100)

    answer = agent.predict(GIBBERISH)

    assert agent.model.vocabulary == frozenset() and agent.model.confidence_medium == 0.5
    assert answer["unfamiliar"] is False
    assert answer["abstained"] == (answer["recommendations"][0]["confidence"] < 0.5)


def test_the_vocabulary_is_signed_like_every_other_file(tmp_path):
    path = build_test_bundle(tmp_path / "v.zip", version="v", vocabulary=VOCABULARY)
    assert "vocabulary.json" in bundles.verify_bundle(path, signing.public_key_pem())["files"]
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(path) as original, zipfile.ZipFile(tampered, "w") as copy:
        for item in original.infolist():
            content = original.read(item.filename)
            if item.filename == "vocabulary.json":
                content = json.dumps({"distinctive_words": ["xqzv"]}).encode()
            copy.writestr(item.filename, content)

    with pytest.raises(edge_bundle.BundleError, match=r"checksum mismatch for vocabulary\.json"):
        edge_bundle.load_model(tampered, signing.public_key_pem())


def test_a_bundle_with_a_file_the_agent_does_not_know_still_loads(tmp_path):
    # What lets an agent from before vocabulary.json existed take a bundle that carries it: every
    # signed file is verified, and only the files it knows are read.
    extra = tmp_path / "later.json"
    extra.write_text("{}")
    path = build_test_bundle(tmp_path / "b.zip", version="b", vocabulary=VOCABULARY)
    manifest, contents = edge_bundle.verify_bundle(path, signing.public_key_pem())
    later = bundles.build_bundle(
        out_path=tmp_path / "later.zip",
        files={**_files(contents, tmp_path / "files"), "later.json": extra},
        manifest={k: manifest[k] for k in ("version", "max_length", "metrics")},
    )

    assert edge_bundle.load_model(later, signing.public_key_pem()).version == "b"


@pytest.mark.parametrize(
    ("extra", "vocabulary", "problem"),
    [
        ({"confidence_medium": "high"}, None, "confidence_medium"),
        ({"confidence_medium": 1.5}, None, "confidence_medium"),
        ({}, [1, 2], r"vocabulary\.json"),
    ],
)
def test_a_signed_bundle_with_a_broken_rule_is_refused(tmp_path, extra, vocabulary, problem):
    path = build_test_bundle(tmp_path / "r.zip", version="r", vocabulary=vocabulary, manifest_extra=extra)

    with pytest.raises(edge_bundle.BundleError, match=problem):
        edge_bundle.load_model(path, signing.public_key_pem())


def _files(contents: dict[str, bytes], folder) -> dict:
    folder.mkdir()
    for name, content in contents.items():
        (folder / name).write_bytes(content)
    return {name: folder / name for name in contents}
