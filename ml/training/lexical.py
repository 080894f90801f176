"""Fitting the lexical member (ml.serving.ensemble.Lexical): TF-IDF word 1-2 grams and char_wb
3-5 grams side by side, and a logistic regression, stored as the arrays the member serves from.

The class weighting (none, square root or inverse frequency) is judged on validation, the three fits
one after another, each starting from the one before; the refit on every ticket, once everything
is measured, starts from the member measured (``start``). A many-class export fits in a fraction
of the iterations it took from zero (benchmarks/lexical_fit.py). scikit-learn is imported inside.
"""

from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from ml.serving.ensemble import CHAR_NGRAMS, TOKEN_RE, Lexical, choose
from ml.serving.logistic import class_weighting, fit_logistic

# A word or word pair must be in two training tickets to be a feature, as for the char n-grams and
# the baseline: what one ticket alone says (rare word pairs, ids, typos) can only be memorised, and
# it was most of the vocabulary (49,900 word terms on a real 3,044-ticket export; 13,400 kept).
WORD_MIN_DF = 2
# The lexical regression's coefficients (classes x terms) beyond which its vocabularies are cut to
# their most frequent terms: 296 classes x 180,000 terms of 20,000 tickets held 14.8 GB in the fit;
# cut to this many coefficients, 5 GB. The dev exports (8 and 12 classes) stay far below it.
MAX_COEFFICIENTS = 16_000_000
# The intercept of a class absent from training: a very low score.
ABSENT_INTERCEPT = -30.0
# In this order: judging them, each fit starts from the one before (``_chained_fits``).
CLASS_WEIGHTINGS = ("none", "sqrt", "inverse")


def fit_lexical(
    texts: Sequence[str],
    labels: Sequence[str],
    classes: Sequence[str],
    out: Path,
    *,
    class_weight: str = "inverse",
    validation: tuple[Sequence[str], Sequence[str]] | None = None,
    start: Lexical | None = None,
) -> Lexical:
    """Fit TF-IDF (word 1-2 grams + char_wb 3-5 grams, each in at least two texts) + logistic
    regression and store it as arrays whose columns follow ``classes`` (classes absent from
    training get a very low score).

    With ``validation`` (texts, labels) the class weighting is chosen there among
    ``CLASS_WEIGHTINGS`` by ``choose`` (the worse of relative accuracy and macro-F1); else
    ``class_weight`` is used. The returned member says which (``class_weight``) and how each did.

    ``start``, a member fitted before for the same classes on other tickets (the refit on every
    ticket starts from the member measured), is where the first fit starts: its terms' coefficients
    carry over to the new vocabulary's (``_start_from``), so the solver starts near the optimum."""
    features, stored = _lexical_features(texts, len(classes))
    fit = _chained_fits(features, labels, classes, start=_start_from(start, stored, labels, classes))

    table: dict = {}
    if validation is not None and len(validation[0]):
        class_weight, table, (coef, intercept) = _weighting_on_validation(fit, stored, classes, validation)
    else:
        coef, intercept = fit(class_weight)
    np.savez(out, coef=coef, intercept=intercept, **stored)
    member = Lexical.load(out)
    member.class_weight, member.class_weight_scores = class_weight, table
    return member


def fit_lexical_weightings(
    texts: Sequence[str], labels: Sequence[str], classes: Sequence[str], schemes: Sequence[str]
) -> dict[str, Lexical]:
    """One member per class weighting of ``schemes``, fitted as ``fit_lexical`` fits them when it
    judges them on validation (one after another, each from the last), on features computed once
    and kept in memory: for judging the weightings, not for serving."""
    features, stored = _lexical_features(texts, len(classes))
    fit = _chained_fits(features, labels, classes)
    members = {}
    for scheme in schemes:
        members[scheme] = _member_of(stored, *fit(scheme))
        members[scheme].class_weight = scheme
    return members


def _chained_fits(features, labels: Sequence[str], classes: Sequence[str], *, start=None):
    """``fit(scheme)`` -> the logistic regression's arrays (one row per class of ``classes``) under
    class weighting ``scheme``; each fit after the first starts from the one before (``fit_logistic``'s
    warm start), so judging three weightings costs about two cold fits. The first starts from
    ``start`` (``_start_from``) when one is given."""
    last = start

    def fit(scheme: str) -> tuple[np.ndarray, np.ndarray]:
        nonlocal last
        weights = class_weighting(labels, scheme)
        last = fit_logistic(features, labels, max_iter=2000, class_weight=weights, C=10.0, start=last)
        return _class_arrays(last, classes)

    return fit


def _start_from(member: Lexical | None, stored: dict, labels: Sequence[str], classes: Sequence[str]):
    """``member``'s solution laid out for a fit on the vocabulary ``stored`` and the classes of
    ``labels`` (rows in scikit-learn's order, one row for two classes), as ``fit_logistic``'s
    ``start``: the columns of terms both vocabularies hold carry over, new terms and classes the
    member never saw start at zero. None without a member."""
    if member is None:
        return None
    words, chars = stored["terms"], stored.get("char_terms", ())
    new_columns, old_columns = [], []
    for offset, old_offset, terms, vocabulary in (
        (0, 0, words, member.vocabulary),
        (len(words), len(member.vocabulary), chars, member.char_vocabulary),
    ):
        for j, term in enumerate(terms):
            i = vocabulary.get(str(term))
            if i is not None:
                new_columns.append(offset + j)
                old_columns.append(old_offset + i)
    rows = [list(classes).index(label) for label in sorted(set(labels))]
    coef = np.zeros((len(rows), len(words) + len(chars)))
    coef[:, new_columns] = member.coef[np.ix_(rows, old_columns)]
    intercept = np.where(member.intercept[rows] <= ABSENT_INTERCEPT, 0.0, member.intercept[rows])
    if len(rows) == 2:  # scikit-learn's binary regression: one row, the second class's against the first
        coef, intercept = coef[1:] - coef[:1], intercept[1:] - intercept[:1]
    return SimpleNamespace(coef_=coef, intercept_=intercept)


def _member_of(stored: dict, coef: np.ndarray, intercept: np.ndarray) -> Lexical:
    """The member ``fit_lexical`` would store for these arrays, as ``Lexical.load`` reads it back."""
    return Lexical(
        [str(t) for t in stored["terms"]],
        stored["idf"],
        coef.astype(np.float64),
        intercept,
        [str(t) for t in stored.get("char_terms", ())],
        stored.get("char_idf"),
    )


def _lexical_features(texts: Sequence[str], n_classes: int = 1, caps: tuple[int | None, ...] = (None, None)):
    """(TF-IDF features of ``texts``, the arrays a Lexical member keeps of the vectorisers).

    The regression keeps a coefficient per class and term, and L-BFGS some twenty copies of them,
    so past MAX_COEFFICIENTS each vocabulary keeps its most frequent terms (``caps``)."""
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer

    def word_vectorizer(min_df: int):
        return TfidfVectorizer(
            ngram_range=(1, 2),
            sublinear_tf=True,
            min_df=min_df,
            token_pattern=TOKEN_RE.pattern,
            max_features=caps[0],
        )

    words = word_vectorizer(WORD_MIN_DF)
    chars = TfidfVectorizer(
        analyzer="char_wb", ngram_range=CHAR_NGRAMS, sublinear_tf=True, min_df=2, max_features=caps[1]
    )
    try:
        features = words.fit_transform(texts)
    except ValueError:  # no word or pair of words in two texts (a tiny set): every one of them
        words = word_vectorizer(1)
        features = words.fit_transform(texts)
    stored = {"terms": _vocabulary(words), "idf": words.idf_.astype(np.float64)}
    try:
        features = hstack([features, chars.fit_transform(texts)]).tocsr()
        stored.update(char_terms=_vocabulary(chars), char_idf=chars.idf_.astype(np.float64))
    except ValueError:  # too few texts for any n-gram to reach min_df: the word block alone
        pass
    if n_classes * features.shape[1] > MAX_COEFFICIENTS:
        per_class = MAX_COEFFICIENTS // n_classes
        word_cap = max(1, per_class * len(stored["terms"]) // features.shape[1])
        return _lexical_features(texts, 1, (word_cap, max(1, per_class - word_cap)))
    return features, stored


def _vocabulary(vectorizer) -> np.ndarray:
    terms = np.empty(len(vectorizer.vocabulary_), dtype=object)
    for term, j in vectorizer.vocabulary_.items():
        terms[j] = term
    return terms.astype(str)


def _class_arrays(classifier, classes: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The classifier's coefficients and intercepts with one row per class of ``classes``."""
    coef, intercept = classifier.coef_, classifier.intercept_
    if coef.shape[0] == 1:  # binary: expand to one row per class so columns follow ``classes``
        coef = np.vstack([-coef[0] / 2, coef[0] / 2])
        intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
    full_coef = np.zeros((len(classes), coef.shape[1]), dtype=np.float32)
    full_intercept = np.full(len(classes), ABSENT_INTERCEPT)
    for row, label in enumerate(classifier.classes_):
        column = list(classes).index(label)
        full_coef[column], full_intercept[column] = coef[row], intercept[row]
    return full_coef, full_intercept


def _weighting_on_validation(
    fit, stored: dict, classes: Sequence[str], validation
) -> tuple[str, dict, tuple]:
    """(the class weighting ``choose`` prefers on ``validation``, its table, that fit's arrays)."""
    index = {label: i for i, label in enumerate(classes)}
    known = [i for i, label in enumerate(validation[1]) if label in index]
    y = np.array([index[validation[1][i]] for i in known])
    val_texts = [validation[0][i] for i in known]
    fitted, probas, rows = {}, {}, None
    for scheme in CLASS_WEIGHTINGS:
        fitted[scheme] = fit(scheme)
        member = _member_of(stored, *fitted[scheme])
        rows = member.featurise(val_texts) if rows is None else rows  # one vocabulary for all
        probas[scheme] = member.proba_of(rows)
    class_weight, table = choose(dict.fromkeys(CLASS_WEIGHTINGS, False), y, probas)
    return class_weight, table, fitted[class_weight]
