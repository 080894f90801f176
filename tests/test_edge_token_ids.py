"""The agent's remembered word ids (edge_agent.token_ids) give exactly the tokenizer's ids, on any
text, or are not used."""

import csv
import dataclasses
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers

from edge_agent import bundle as edge_bundle
from edge_agent.serialization import serialize
from edge_agent.token_ids import TokenIds
from ml.core import signing
from tests.edge_fixtures import build_test_bundle, signing_key, simulated_documents, tokenizer_json  # noqa: F401

REAL = Path(__file__).resolve().parent.parent / "benchmarks" / "data" / "real"
# What the serialisation writes and training adds as whole-word domain tokens (ml.training.domain_tokens).
DOMAIN = ["cpri_link_down", "alarm_raised", "[codes]", "[events]", "vendor=nordlink", "-4m", "+1h00m", "-17d"]
# Characters where Python's str.split() and BERT's normaliser part ways, and other hard cases.
AWKWARD = [
    *"\x00\x0b\x0c\x1c\x1f\x7f\x85\xa0\u2028\u3000\u200b\ufeff\ufffd\t\u00e9\u00df\u0130\u4e2d\ufb01\U0001f600",
    "\r\n",
    "[CLS]",
    "[SEP]",
    "##",
]


def agent_tokenizer(max_length: int = 48) -> Tokenizer:
    """The bundled tokenizer with domain tokens, truncating and padding as the agent sets it up."""
    tokenizer = Tokenizer.from_file(str(tokenizer_json()))
    tokenizer.add_tokens([AddedToken(t, single_word=True, normalized=True) for t in DOMAIN])
    tokenizer.enable_truncation(max_length=max_length)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    return tokenizer


TOKENIZER = agent_tokenizer()
TOKEN_IDS = TokenIds.of(TOKENIZER)


def expected(text: str, tokenizer: Tokenizer = TOKENIZER) -> list[int]:
    return tokenizer.encode(text).ids


pieces = st.one_of(
    st.sampled_from(DOMAIN + AWKWARD + [" ", " ", "\n"]),
    st.text(max_size=12),
    st.from_regex(r"[A-Za-z_=.\-+0-9]{1,14}", fullmatch=True),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(pieces, max_size=60).map("".join))
def test_any_text_gets_the_tokenizers_own_ids(text):
    assert TOKEN_IDS.ids(text) == expected(text)


MULTILINGUAL = [
    "[text] Störung der Basisstation: Zelle außer Betrieb seit 03:00, Glasfaser prüfen",
    "[text] Panne du relais hertzien — liaison coupée après l'orage; équipe dépêchée",
    "[text] Caída del enlace de microondas tras la tormenta; técnico en camino",
    "[text] 基地局の電源障害。バッテリー切替後にアラーム発生",
    "[text] انقطاع الخدمة في الموقع بعد انقطاع التيار",
    "[codes] MAINS_FAIL [text] Αποτυχία τροφοδοσίας — Сбой питания на площадке",
]


def test_simulated_tickets_real_exports_and_other_languages_get_the_same_ids():
    texts = [serialize(d) for d in simulated_documents(200)]
    for name, columns in (("it_tickets.csv", ("Document",)), ("incident_event_log.csv", None)):
        with (REAL / name).open(newline="", encoding="utf-8") as f:
            for i, row in enumerate(csv.DictReader(f)):
                if i == 400:
                    break
                values = (
                    [row[c] for c in columns] if columns else [v for v in row.values() if isinstance(v, str)]
                )
                texts.append(" | ".join(values))
    texts += MULTILINGUAL
    long = agent_tokenizer(max_length=512)
    long_ids = TokenIds.of(long)
    for text in texts + texts:  # the second pass reads every word from memory
        assert TOKEN_IDS.ids(text) == expected(text)
        assert long_ids.ids(text) == expected(text, long)
    assert any(len(expected(text)) == 48 for text in texts)  # truncation was exercised
    assert any(not text.isascii() for text in texts)  # and text beyond ASCII


def test_the_memory_is_bounded_and_stays_exact_when_emptied():
    token_ids = TokenIds(TOKENIZER, capacity=50)
    texts = [serialize(d) for d in simulated_documents(60)]
    for text in texts:
        assert token_ids.ids(text) == expected(text)
        assert len(token_ids.memory) <= 50
    assert token_ids.memory


class Counting:
    """The word tokenizer of a TokenIds, counting the calls that reach it."""

    def __init__(self, token_ids: TokenIds):
        self.inner, self.calls = token_ids.words, []
        token_ids.words = self

    def encode_batch_fast(self, words, **kwargs):
        self.calls.append(list(words))
        return self.inner.encode_batch_fast(words, **kwargs)


def test_a_tickets_new_words_are_tokenised_in_one_call_and_known_ones_never_again():
    token_ids = TokenIds.of(agent_tokenizer())
    counting = Counting(token_ids)
    text = "alpha beta alpha gamma -4m"
    assert token_ids.ids(text) == expected(text)
    assert counting.calls == [["alpha", "beta", "gamma", "-4m"]]
    assert token_ids.ids(text) == expected(text) and len(counting.calls) == 1
    assert token_ids.ids("gamma delta") == expected("gamma delta") and counting.calls[1:] == [["delta"]]


def test_words_past_the_truncation_are_not_read():
    token_ids = TokenIds.of(agent_tokenizer())
    counting = Counting(token_ids)
    text = "alpha " * 60 + "brandnewword"
    assert token_ids.ids(text) == expected(text) and len(expected(text)) == 48
    assert counting.calls == [["alpha"]]


def _variants():
    def base():
        tokenizer = Tokenizer.from_file(str(tokenizer_json()))
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the longest, as the agent does
        return tokenizer

    plain, whitespace, spaced, stripping, left = base(), base(), base(), base(), base()
    whitespace.pre_tokenizer = pre_tokenizers.Whitespace()
    spaced.add_tokens([AddedToken("link down", normalized=True)])
    stripping.add_special_tokens([AddedToken("<mask>", lstrip=True)])
    left.enable_truncation(max_length=16, direction="left")
    fixed = Tokenizer.from_file(str(tokenizer_json()))  # as shipped: every text padded to 128
    word_level = Tokenizer(models.WordLevel({"a": 0, "[UNK]": 1}, unk_token="[UNK]"))
    word_level.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return dict(
        plain=plain,
        whitespace=whitespace,
        spaced=spaced,
        stripping=stripping,
        left=left,
        fixed=fixed,
        word_level=word_level,
    )


@pytest.mark.parametrize(
    "name, usable",
    [("plain", True)]
    + [(name, False) for name in ("whitespace", "spaced", "stripping", "left", "fixed", "word_level")],
)
def test_only_a_tokenizer_that_cuts_at_whitespace_first_is_remembered_word_by_word(name, usable):
    tokenizer = _variants()[name]
    token_ids = TokenIds.of(tokenizer)
    assert (token_ids is not None) == usable
    if token_ids is not None:
        text = "[codes] CPRI_LINK_DOWN  rx power low -4m"
        assert token_ids.ids(text) == tokenizer.encode(text).ids


@pytest.mark.usefixtures("signing_key")
def test_a_loaded_bundle_predicts_the_same_from_remembered_ids_as_from_the_tokenizer(tmp_path):
    path = build_test_bundle(tmp_path / "b1.zip", version="b1")
    model = edge_bundle.load_model(path, signing.public_key_pem(), pin="agent")
    assert model.token_ids is not None and model.with_head(model.shipped_head).token_ids is model.token_ids
    plain = dataclasses.replace(model, token_ids=None)
    texts = [*model.texts(simulated_documents(30), [None] * 30), "Störung: Zelle außer Betrieb\x0bseit 3h"]
    for text in texts:
        assert np.array_equal(model.predict_one(text), plain.predict_one(text))


@pytest.mark.usefixtures("signing_key")
def test_the_edge_benchmark_fills_the_agents_memory_from_tickets_it_does_not_time(tmp_path):
    from benchmarks.edge import site_memory

    model = edge_bundle.load_model(
        build_test_bundle(tmp_path / "b1.zip", version="b1"), signing.public_key_pem()
    )
    texts = model.texts(simulated_documents(40), [None] * 40)
    timed, seen = texts[:20], texts[20:]
    for text in timed:
        model.predict_one(text)
    words = site_memory(model, seen)
    fresh = TokenIds.of(model.tokenizer)
    for text in seen:
        fresh.ids(text)
    assert model.token_ids.memory == fresh.memory  # what the timed tickets taught it is gone
    assert words == {"remembered": True, "warmed_on_tickets": 20, "words_before": len(fresh.memory)}
    assert site_memory(dataclasses.replace(model, token_ids=None), seen) == {"remembered": False}
