"""Evidence in the tickets' own language: the words of most tickets (German function words here) are
never candidates, and no longer take the place of the words that carry meaning."""

from ml.serving import evidence
from ml.training.lexical import fit_lexical

FIXES = {
    "REPLACE_FAN": "der Lüfter ist sehr laut und die Temperatur im Schrank steigt",
    "REPLACE_BATTERY": "die Batterie ist leer und der Strom fällt immer wieder aus",
    "FIX_MAINS": "der Netzanschluss ist ohne Spannung und die Anlage läuft auf Batterie",
}


def _member(tmp_path):
    texts, labels = [], []
    for n in range(12):
        for label, text in FIXES.items():
            texts.append(f"[text] Störung {n}: {text}")
            labels.append(label)
    return fit_lexical(texts, labels, sorted(FIXES), tmp_path / "lexical.npz")


def test_the_words_of_most_tickets_are_found_in_any_language(tmp_path):
    member = _member(tmp_path)

    common = member.common_words(36, evidence.common_above(36, 12))

    assert {"der", "die", "ist", "und", "störung", "text"} <= common
    # A fix's own words are in a third of the tickets, "batterie" in two fixes' (two thirds, but not
    # more than twice the largest class): none of them is common.
    assert not common & {"lüfter", "temperatur", "strom", "spannung", "batterie", "laut"}
    assert evidence.common_above(36, 12) == 24 and evidence.common_above(100, 10) == 59.5
    assert member.common_words(36, 35) == {"der", "die", "ist", "und", "störung", "text"}  # in every one
    assert member.common_words(36, 36) == frozenset()


def test_common_words_never_become_evidence_nor_crowd_out_the_meaningful_ones():
    common = frozenset(
        """und der die das ist ein eine nicht auch noch schon wieder sehr seit nach bei beim vom zum zur
        wird wurde wurden sind war waren hat haben hatte kann können muss soll bitte danke heute gestern
        dem den des einer eines einem störung""".split()  # noqa: SIM905 - a word list reads better as text
    )
    filler = " ".join(sorted(common))
    document = {"title": "Störung", "description": f"{filler} Lüfter", "error_codes": [], "events": []}

    before = [item for kind, item, _ in evidence._variants(document) if kind == "word"]
    after = [item for kind, item, _ in evidence._variants(document, common)]

    assert "Lüfter" not in before  # the budget went to filler first
    assert after == ["Lüfter"]
    assert not evidence.is_candidate_word("Und", common) and evidence.is_candidate_word("Lüfter", common)
