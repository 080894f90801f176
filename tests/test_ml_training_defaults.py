"""Training defaults: domain tokens (curated codes, event kinds, section markers as single tokens),
and the sequence length and epochs chosen from the data and the CPU time budget."""

import pytest

from ml.training import (
    TrainingConfig,
    add_domain_tokens,
    choose_epochs,
    choose_max_length,
    domain_terms,
    fine_tune,
    measure_speed,
    predict_proba,
)
from tests.factories import tiny_encoder_dir

TEXTS = [
    "[codes] CPRI_LINK_DOWN [events] -4m alarm_raised SFP_RX_LOW | +0m alarm_raised CPRI_LINK_DOWN "
    "[text] link closed, cpri_link_down again",
    "[codes] CPRI_LINK_DOWN [events] -9m alarm_raised CPRI_LINK_DOWN [text] fibre dirty",
    "[codes] MAINS_FAILURE [events] -1h alarm_raised MAINS_FAILURE | +2h alarm_cleared MAINS_FAILURE "
    "[text] power cut in the area",
]


def test_domain_terms_are_identifiers_and_markers_seen_often_enough():
    assert domain_terms(TEXTS, min_count=2) == [
        "[codes]",
        "[events]",
        "[text]",
        "alarm_raised",
        "cpri_link_down",
    ]
    once = domain_terms(TEXTS, min_count=1)
    assert {"mains_failure", "sfp_rx_low", "alarm_cleared"} <= set(once)
    # plain words, times and free-text punctuation are not identifiers
    assert not {"link", "closed", "-4m", "fibre", "power"} & set(once)


def _tiny(tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    base = tiny_encoder_dir(tmp_path / "base")
    tokenizer = AutoTokenizer.from_pretrained(base, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=2, local_files_only=True)
    return tokenizer, model


def test_new_tokens_start_as_the_mean_of_the_pieces_they_replace(tmp_path):
    import torch

    tokenizer, model = _tiny(tmp_path)
    pieces = tokenizer("cpri_link_down", add_special_tokens=False)["input_ids"]
    before = model.get_input_embeddings().weight[pieces].mean(dim=0).detach().clone()
    vocab = len(tokenizer)

    added = add_domain_tokens(tokenizer, model, ["cpri_link_down", "[codes]", "link"])

    assert added == ["cpri_link_down", "[codes]"]  # "link" is one word piece already
    assert len(tokenizer) == vocab + 2 == model.get_input_embeddings().weight.shape[0]
    token_id = tokenizer.convert_tokens_to_ids("cpri_link_down")
    assert torch.allclose(model.get_input_embeddings().weight[token_id], before)
    assert add_domain_tokens(tokenizer, model, ["cpri_link_down"]) == []


@pytest.mark.slow
def test_the_saved_tokenizer_keeps_the_domain_tokens_for_serving_and_the_edge(tmp_path):
    from tokenizers import Tokenizer

    base = tiny_encoder_dir(tmp_path / "base")
    labels = ["CLEAN_FIBRE", "CLEAN_FIBRE", "DISPATCH_GENERATOR"]
    config = TrainingConfig(
        base_model=str(base), epochs=1, max_length=48, batch_size=2, domain_token_min_count=1
    )
    info = fine_tune(
        train_texts=TEXTS,
        train_labels=labels,
        val_texts=TEXTS[:1],
        val_labels=labels[:1],
        labels=["CLEAN_FIBRE", "DISPATCH_GENERATOR"],
        config=config,
        output_dir=tmp_path / "model",
    )

    assert info["domain_tokens"] == 8  # 3 markers, 2 event kinds, 3 codes
    # serving and edge agents tokenise with the tokenizers library from tokenizer.json alone
    tokenizer = Tokenizer.from_file(str(tmp_path / "model" / "tokenizer.json"))
    tokens = tokenizer.encode("[codes] CPRI_LINK_DOWN [text] link closed, xcpri_link_down").tokens
    assert tokens[1:4] == ["[codes]", "cpri_link_down", "[text]"]
    assert "link" in tokens and "closed" in tokens and "cpri_link_down" not in tokens[5:]
    assert predict_proba(tmp_path / "model", TEXTS, max_length=48).shape == (3, 2)

    plain = TrainingConfig(base_model=str(base), epochs=1, max_length=48, batch_size=2, domain_tokens=False)
    info = fine_tune(
        train_texts=TEXTS,
        train_labels=labels,
        val_texts=[],
        val_labels=[],
        labels=["CLEAN_FIBRE", "DISPATCH_GENERATOR"],
        config=plain,
        output_dir=tmp_path / "plain",
    )
    assert info["domain_tokens"] == 0
    plain_tokens = Tokenizer.from_file(str(tmp_path / "plain" / "tokenizer.json")).encode("[codes]").tokens
    assert plain_tokens[1:4] == ["[", "codes", "]"]


def test_epochs_fit_the_time_budget_at_the_measured_speed():
    config = TrainingConfig()
    slow, fast = 960.0, 1_700.0  # tokens/s: one 2-core host measured 960, another 1,464
    # 20,000 simulated tickets: ~14,000 train at a mean of 97 tokens: 24 min an epoch, or 13
    assert choose_epochs(14_000, 97, slow, config) == 1
    assert choose_epochs(14_000, 97, fast, config) == 2
    # 4,000 tickets: ~2,700 train, ~4.5 min an epoch, so the cap applies
    assert choose_epochs(2_700, 97, slow, config) == config.max_epochs == 6
    assert choose_epochs(1_000_000, 128, slow, config) == 1  # never zero
    assert choose_epochs(14_000, 97, 50_000.0, config) == config.max_epochs  # a GPU
    assert choose_epochs(2_700, 97, slow, TrainingConfig(epochs=2)) == 2  # an explicit choice wins
    assert choose_epochs(2_700, 97, slow, TrainingConfig(time_budget_s=600)) == 2
    # validation is scored after every epoch: 15,500 tickets fit twice, not with 1,600 validation too
    assert choose_epochs(15_500, 97, fast, config) == 2
    assert choose_epochs(15_500, 97, fast, config, n_validation=1_600) == 1


def test_measuring_the_speed_leaves_weights_gradients_and_random_state_as_found(tmp_path):
    import torch

    tokenizer, model = _tiny(tmp_path)
    texts = TEXTS * 4
    batches = [
        (
            tokenizer(texts[i : i + 4], padding=True, return_tensors="pt"),
            torch.tensor([0, 1, 0, 1]),
        )
        for i in range(0, 12, 4)
    ]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    torch.manual_seed(7)
    expected_draw = torch.rand(3)
    torch.manual_seed(7)

    tokens_per_s = measure_speed(model, batches, torch.nn.CrossEntropyLoss())

    assert 0 < tokens_per_s < float("inf")
    assert torch.equal(torch.rand(3), expected_draw)  # dropout in the probe consumed nothing
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
    assert measure_speed(model, batches[:1], torch.nn.CrossEntropyLoss()) == float("inf")  # nothing to time


def test_max_length_is_the_95th_percentile_rounded_up_and_clamped():
    assert choose_max_length(list(range(1, 101)), 0) == 96
    assert choose_max_length([300] * 10, 0) == 128
    assert choose_max_length([5] * 10, 0) == 32
    assert choose_max_length([], 0) == 64
    assert choose_max_length([300], 48) == 48
