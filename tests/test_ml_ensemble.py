"""Training fits a lexical member and neighbour votes beside the transformer, calibrates each on
validation, serves their mix (chosen on accuracy and macro-F1, never below its best member),
calibrated again, and reports every member; the lexical member replays scikit-learn exactly."""

import json
import re

import numpy as np
import pytest

from ml.core import registry
from ml.serving import ensemble
from ml.training import lexical

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


def test_the_evaluation_shows_every_member_and_the_ensemble(trained_champion):
    metrics = trained_champion.metrics
    assert set(metrics["members"]) == {"transformer", "lexical", "knn", "ensemble"}
    for summary in metrics["members"].values():
        assert {"accuracy", "macro_f1", "top3", "ece"} <= set(summary)
    validation = metrics["ensemble"]["validation"]
    assert set(validation) == {"transformer", "lexical", "knn", "ensemble"}
    # The weights include each member alone, and the mix is chosen on accuracy and macro-F1 both:
    # no member beats it on validation on both.
    assert metrics["served"] == "ensemble"
    mix = validation["ensemble"]
    for name in ("transformer", "lexical", "knn"):
        member = validation[name]
        assert {"accuracy", "macro_f1", "log_loss"} <= set(member)
        assert member["accuracy"] <= mix["accuracy"] + 1e-9 or member["macro_f1"] <= mix["macro_f1"] + 1e-9
    assert metrics["ensemble"]["lexical_class_weight"] in ("none", "sqrt", "inverse")
    weights = metrics["ensemble"]["weights"]
    assert set(weights) == {"transformer", "lexical", "knn"} and sum(weights.values()) == pytest.approx(1.0)
    assert metrics["ensemble"]["temperature"] > 0
    # 16 training tickets leave a validation part far under 200: the weighting was chosen on folds
    assert re.fullmatch(
        r"[2-5]-fold out-of-fold predictions over \d+ tickets",
        metrics["ensemble"]["lexical_class_weight_chosen_on"],
    )
    # the fine-tune's budget is what the lexical member and the work after the fine-tune leave of it
    lexical_s = metrics["ensemble"]["lexical_fit_s"]
    assert metrics["ensemble"]["fine_tune_budget_s"] == pytest.approx(1800 - 2 * lexical_s - 90, abs=0.3)
    config = json.loads((trained_champion.artifact_dir / "serving" / "ensemble.json").read_text())
    assert set(config["member_temperatures"]) == {"transformer", "lexical", "knn"}
    assert all(t > 0 for t in config["member_temperatures"].values())
    # The served predictor's own report is the headline, and metrics.json holds the same numbers.
    stored = json.loads((trained_champion.artifact_dir / "metrics.json").read_text())
    assert stored["served"] == metrics["served"] and stored["macro_f1"] == metrics["macro_f1"]


def test_the_serving_files_are_in_the_verified_artifact(trained_champion):
    registry.verify(trained_champion)
    files = set(trained_champion.artifact_sha256)
    for name in (
        "model.onnx",
        "tokenizer.json",
        "lexical.npz",
        "embeddings.npy",
        "index.json",
        "ensemble.json",
    ):
        assert f"serving/{name}" in files
    serving = trained_champion.artifact_dir / "serving"
    index = json.loads((serving / "index.json").read_text())
    embeddings = np.load(serving / "embeddings.npy")
    assert len(index["ticket_ids"]) == len(index["labels"]) == embeddings.shape[0]
    assert np.allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-4)


def test_the_exported_lexical_model_matches_scikit_learn(tmp_path):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    texts = [
        "[codes] SFP_RX_LOW optical low",
        "[codes] SW_CRASH restart loop",
        "[codes] MAINS_FAIL mains",
        "optical power low again",
        "restart after upgrade",
        "mains failure on site",
    ] * 2
    labels = ["SFP", "SW", "POWER"] * 4
    from scipy.sparse import hstack

    member = lexical.fit_lexical(texts, labels, ["POWER", "SFP", "SW", "UNSEEN"], tmp_path / "lex.npz")
    words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2, token_pattern=r"[^\s|]+")
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, min_df=2)
    classifier = LogisticRegression(max_iter=2000, class_weight="balanced", C=10.0)
    classifier.fit(hstack([words.fit_transform(texts), chars.fit_transform(texts)]), labels)
    queries = ["optical low on site", "SW_CRASH upgrade restart", "nothing known here", "Optisch schwach"]
    expected = classifier.predict_proba(hstack([words.transform(queries), chars.transform(queries)]))
    got = member.proba(queries)
    assert np.allclose(got[:, :3], expected, atol=1e-6)  # coefficients are stored as float32
    assert (got[:, 3] < 1e-9).all()
    # the char n-grams are scikit-learn's, replayed without it
    analyzer = chars.build_analyzer()
    for text in [*texts, *queries, "a  bb\tccc dddddd é"]:
        assert ensemble.char_wb_ngrams(text) == analyzer(text)


def test_the_weightings_judged_together_are_the_members_fit_lexical_serves(tmp_path):
    # Judging the class weightings fits each on features computed once, each from the one before;
    # the member fit_lexical stores after judging on validation is the judged one, to the last digit.
    texts = ["optical rx low", "sw crash after upgrade", "mains failure", "rx low again", "crash loop"] * 3
    labels = ["SFP", "SW", "POWER", "SFP", "SW"] * 3
    classes = ["POWER", "SFP", "SW", "UNSEEN"]
    together = lexical.fit_lexical_weightings(texts, labels, classes, lexical.CLASS_WEIGHTINGS)
    queries = ["optical crash", "mains low", "unknown words", "sw upgrade rx"]
    rows = together["none"].featurise(queries)
    chosen = set()
    for meant in ("SFP", "POWER"):  # validation that prefers one weighting, then another
        validation = (["mains low", "optical crash"], [meant, "SFP"])
        path = tmp_path / f"{meant}.npz"
        served = lexical.fit_lexical(texts, labels, classes, path, validation=validation)
        assert np.array_equal(together[served.class_weight].proba_of(rows), served.proba(queries))
        chosen.add(served.class_weight)
    assert chosen - {"none"}  # a served member that started from another weighting's fit
    probas = []
    for scheme in lexical.CLASS_WEIGHTINGS:
        # Fitted alone, from zero: the same optimum, within the solver's tolerance.
        alone = lexical.fit_lexical(texts, labels, classes, tmp_path / f"{scheme}.npz", class_weight=scheme)
        assert together[scheme].class_weight == scheme
        assert np.allclose(together[scheme].proba_of(rows), alone.proba(queries), atol=1e-2)
        probas.append(alone.proba(queries))
    assert not np.allclose(probas[0], probas[2], atol=1e-2)  # the weightings differ, so it can fail


def test_numeric_labels_get_their_class_weights(tmp_path):
    # A fault severity "0"/"1"/"2": scikit-learn reads a class_weight dict's keys through int(), so
    # passed as a dict these weights were missed and the fit failed; per-ticket weights are the same.
    texts = ["optical rx low", "sw crash after upgrade", "mains failure", "rx low again", "crash loop"] * 3
    named = ["SFP", "SW", "POWER", "SFP", "SW"] * 3
    numeric = [{"POWER": "0", "SFP": "1", "SW": "2"}[label] for label in named]
    queries = ["optical crash", "mains low", "sw upgrade rx"]
    for scheme in lexical.CLASS_WEIGHTINGS:
        by_name = lexical.fit_lexical(
            texts, named, ["POWER", "SFP", "SW"], tmp_path / f"n{scheme}.npz", class_weight=scheme
        )
        by_number = lexical.fit_lexical(
            texts, numeric, ["0", "1", "2"], tmp_path / f"d{scheme}.npz", class_weight=scheme
        )
        assert np.allclose(by_name.proba(queries), by_number.proba(queries))


def test_past_the_coefficient_budget_the_vocabularies_keep_their_most_frequent_terms(tmp_path, monkeypatch):
    # A catalogue of hundreds of fixes times a large vocabulary would take L-BFGS tens of GB.
    texts = ["optical rx low", "sw crash after upgrade", "mains failure", "rx low again", "crash loop"] * 3
    labels = ["SFP", "SW", "POWER", "SFP", "SW"] * 3
    classes = ["POWER", "SFP", "SW"]
    full = lexical.fit_lexical(texts, labels, classes, tmp_path / "full.npz", class_weight="none")
    terms = len(full.vocabulary) + len(full.char_vocabulary)
    monkeypatch.setattr(lexical, "MAX_COEFFICIENTS", 3 * 40)
    capped = lexical.fit_lexical(texts, labels, classes, tmp_path / "capped.npz", class_weight="none")
    assert terms > 40 and len(capped.vocabulary) + len(capped.char_vocabulary) <= 40
    assert {"rx", "low", "crash"} <= set(capped.vocabulary)  # the most frequent words stay
    together = lexical.fit_lexical_weightings(texts, labels, classes, ["none"])["none"]
    assert np.array_equal(together.proba(texts), capped.proba(texts))  # judged as it is served


def test_past_the_coefficient_budget_the_tfidf_baseline_keeps_its_most_frequent_terms(monkeypatch):
    # The baseline stored beside every model keeps every word pair (min_df 1): with hundreds of
    # classes that was tens of GB for L-BFGS, beyond the member's budget, so it shares the budget.
    from sklearn.feature_extraction.text import TfidfVectorizer

    from ml.training import evaluation

    texts = ["optical rx low", "sw crash after upgrade", "mains failure", "rx low again", "crash loop"] * 3
    labels = ["SFP", "SW", "POWER", "SFP", "SW"] * 3
    classes = ["POWER", "SFP", "SW"]
    plain = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1, token_pattern=r"[^\s|]+")
    below = evaluation.baseline_vectorizer(len(classes))
    assert below.fit(texts).vocabulary_ == plain.fit(texts).vocabulary_  # the cap does not bind
    full = evaluation.tfidf_proba(texts, labels, ["rx low crash"], classes)
    monkeypatch.setattr(lexical, "MAX_COEFFICIENTS", 3 * 6)
    capped = evaluation.baseline_vectorizer(len(classes)).fit(texts)
    assert len(plain.vocabulary_) > 6 and len(capped.vocabulary_) == 6
    assert {"rx", "low", "crash"} <= set(capped.vocabulary_)  # the most frequent words stay
    cut = evaluation.tfidf_proba(texts, labels, ["rx low crash"], classes)
    assert cut.shape == full.shape and np.allclose(cut.sum(axis=1), 1.0) and not np.allclose(cut, full)


def test_a_word_in_one_training_ticket_is_no_feature_unless_every_word_is(tmp_path):
    texts = ["optical low rx", "optical low", "mains fail", "mains fail INC-4711"]
    labels = ["SFP", "SFP", "POWER", "POWER"]
    member = lexical.fit_lexical(texts, labels, ["POWER", "SFP"], tmp_path / "lex.npz")
    assert set(member.vocabulary) == {"optical", "low", "optical low", "mains", "fail", "mains fail"}
    # a set so small that no word is in two texts keeps every word rather than none
    tiny = lexical.fit_lexical(["optical", "mains"], ["SFP", "POWER"], ["POWER", "SFP"], tmp_path / "t.npz")
    assert set(tiny.vocabulary) == {"optical", "mains"}
    assert tiny.proba(["optical"]).argmax() == 1


def test_the_weights_and_temperature_minimise_validation_log_loss():
    y = np.array([0, 1, 0, 1])
    good = np.array([[0.9, 0.1], [0.2, 0.8], [0.8, 0.2], [0.3, 0.7]])
    bad = np.array([[0.4, 0.6], [0.6, 0.4], [0.5, 0.5], [0.7, 0.3]])
    weights = ensemble.fit_weights(y, {"good": good, "bad": bad})
    assert weights == {"good": 1.0, "bad": 0.0}
    overconfident = np.array([[0.999, 0.001], [0.001, 0.999], [0.001, 0.999], [0.999, 0.001]])
    assert ensemble.fit_temperature(y, overconfident) > 1.0


def test_the_weights_count_every_class_the_same_as_macro_f1_does():
    # 18 tickets of a frequent class, 2 of a rare one. "sure" is very sure of the frequent class and
    # wrong on the rare one; "fair" is right on both, less sure. Counting tickets, "sure" wins the
    # mix and the rare class is never predicted; counting classes, "fair" carries it.
    y = np.array([0] * 18 + [1] * 2)
    sure = np.array([[0.97, 0.03]] * 18 + [[0.9, 0.1]] * 2)
    fair = np.array([[0.6, 0.4]] * 18 + [[0.3, 0.7]] * 2)
    grid = [{"sure": w / 10, "fair": 1 - w / 10} for w in range(11)]
    by_ticket = min(
        grid,
        key=lambda weights: ensemble.log_loss(y, ensemble.combine({"sure": sure, "fair": fair}, weights)),
    )
    assert by_ticket["sure"] >= 0.8
    assert (ensemble.combine({"sure": sure, "fair": fair}, by_ticket).argmax(axis=1) == 0).all()

    weights = ensemble.fit_weights(y, {"sure": sure, "fair": fair})
    assert weights["fair"] > weights["sure"]
    assert (ensemble.combine({"sure": sure, "fair": fair}, weights).argmax(axis=1) == y).all()
    # tickets of a label the members do not know (-1) are left out rather than breaking the fit
    assert (
        ensemble.fit_weights(
            np.append(y, -1), {"sure": np.vstack([sure, [0.5, 0.5]]), "fair": np.vstack([fair, [0.5, 0.5]])}
        )
        == weights
    )


def test_members_are_calibrated_one_by_one_before_they_are_mixed():
    # An overconfident member that is right 3 times in 4 and a timid one that is always right:
    # mixed raw, the loud one's certainty outweighs the right answer on the ticket it gets wrong.
    y = np.array([0, 1, 0, 1] * 5)
    loud = np.array([[0.99, 0.01], [0.01, 0.99], [0.99, 0.01], [0.99, 0.01]] * 5)
    timid = np.array([[0.6, 0.4], [0.4, 0.6], [0.6, 0.4], [0.4, 0.6]] * 5)
    raw = {"loud": loud, "timid": timid}
    raw_mix = ensemble.combine(raw, ensemble.fit_weights(y, raw))
    temperatures = {name: ensemble.fit_temperature(y, proba) for name, proba in raw.items()}
    assert temperatures["loud"] > 1.0 > temperatures["timid"]
    calibrated = ensemble.calibrate_members(raw, temperatures)
    mix = ensemble.combine(calibrated, ensemble.fit_weights(y, calibrated))
    assert (mix.argmax(axis=1) == y).all()
    assert ensemble.log_loss(y, mix) < ensemble.log_loss(y, raw_mix)
    # Serving replays the same steps from the stored configuration.
    config = {"served": "ensemble", "weights": ensemble.fit_weights(y, calibrated), "temperature": 1.0}
    config["member_temperatures"] = temperatures
    assert np.allclose(ensemble.served_proba(config, raw), mix)
    # A version stored before member temperatures existed is served as it was trained.
    old = {"served": "lexical", "weights": {"lexical": 1.0}, "temperature": 2.0}
    assert np.allclose(ensemble.served_proba(old, {"lexical": timid}), ensemble.calibrate(timid, 2.0))


def test_the_served_encoder_is_int8_and_the_metrics_are_measured_on_it(trained_champion):
    import onnx

    serving = trained_champion.artifact_dir / "serving"
    config = json.loads((serving / "ensemble.json").read_text())
    assert config["encoder"] == "int8"
    ops = {node.op_type for node in onnx.load(str(serving / "model.onnx")).graph.node}
    assert "DynamicQuantizeLinear" in ops or "MatMulInteger" in ops, ops
