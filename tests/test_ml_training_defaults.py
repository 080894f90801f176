"""Training defaults: domain tokens (curated codes, event kinds, section markers, context and event
times as single tokens), and the sequence length and steps chosen from the data and the time budget."""

import pytest

from ml.training.domain_tokens import add_domain_tokens, domain_terms
from ml.training.fine_tuning import (
    TrainingConfig,
    choose_max_length,
    choose_steps,
    fine_tune,
    linear_schedule,
    measure_speed,
    predict_proba,
)
from tests.factories import tiny_encoder_dir

pytestmark = pytest.mark.slow  # trains models

TEXTS = [
    "[unit] kind=radio-unit sw=R23.2 age=6y [codes] CPRI_LINK_DOWN "
    "[events] -4m alarm_raised SFP_RX_LOW | +0m alarm_raised CPRI_LINK_DOWN "
    "[text] link closed, cpri_link_down again",
    "[unit] kind=radio-unit [codes] CPRI_LINK_DOWN [events] -4m alarm_raised CPRI_LINK_DOWN "
    "[text] fibre dirty, sev=major. near-4m",
    "[codes] MAINS_FAILURE [events] -1h15m alarm_raised MAINS_FAILURE | +2d alarm_cleared MAINS_FAILURE "
    "[text] power cut in the area",
]


def test_domain_terms_are_identifiers_markers_context_and_times_seen_often_enough():
    assert domain_terms(TEXTS, min_count=2) == [
        "-4m",
        "[codes]",
        "[events]",
        "[text]",
        "[unit]",
        "alarm_raised",
        "cpri_link_down",
        "kind=radio-unit",
    ]
    once = set(domain_terms(TEXTS, min_count=1))
    assert {"mains_failure", "sfp_rx_low", "alarm_cleared", "sw=r23.2", "age=6y", "-1h15m", "+2d"} <= once
    assert "sev=major" in once  # a value never takes the sentence's full stop
    # plain words, punctuation and a time glued to a word ("near-4m") are not terms
    assert not {"link", "closed", "fibre", "power", "sev=major.", "near-4m"} & once


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

    # 4 markers, 2 event kinds, 3 codes, 4 context values (sev=major from the text), 4 times
    assert info["domain_tokens"] == 17
    # serving and edge agents tokenise with the tokenizers library from tokenizer.json alone
    tokenizer = Tokenizer.from_file(str(tmp_path / "model" / "tokenizer.json"))
    tokens = tokenizer.encode("[codes] CPRI_LINK_DOWN [text] link closed, xcpri_link_down").tokens
    assert tokens[1:4] == ["[codes]", "cpri_link_down", "[text]"]
    assert "link" in tokens and "closed" in tokens and "cpri_link_down" not in tokens[5:]
    tokens = tokenizer.encode(
        "[unit] kind=radio-unit sw=R23.2 [events] -4m alarm_raised [text] near-4m"
    ).tokens
    assert tokens[1:7] == ["[unit]", "kind=radio-unit", "sw=r23.2", "[events]", "-4m", "alarm_raised"]
    assert "-4m" not in tokens[8:]  # glued to a word, the time is read as pieces
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


def test_steps_fill_the_time_budget_at_the_measured_speed():
    config = TrainingConfig()  # batches of 16, 1,800 s, at most 10 epochs
    slow, fast = 960.0, 1_600.0  # tokens/s measured on 2-core hosts
    # 20,000 simulated tickets: 14,000 train (875 steps an epoch) at a mean of 64 tokens;
    # 16 * 64 / 960 = 1.07 s a step: 1,687 steps, the second epoch cut short rather than skipped
    assert choose_steps(14_000, 64, slow, config) == 1_687
    assert choose_steps(14_000, 64, fast, config) == 2_812  # 3.2 epochs
    # every epoch, the partial last one too, ends with a validation pass: 1,600 tickets at a third
    # of a step's cost per token, cost 35.6 s each: two passes, 67 steps fewer
    assert choose_steps(14_000, 64, slow, config, n_validation=1_600) == 1_620
    # a budget shorter than an epoch cuts the first epoch short: the budget is the promise
    assert choose_steps(14_000, 64, slow, config, budget_s=900) == 843
    # 1,939 s buys 2 epochs, their 2 passes and 1 s more: a third epoch of one step and a 35.6 s pass is
    # not worth it, so the plan is the two whole epochs
    assert choose_steps(14_000, 64, slow, config, n_validation=1_600, budget_s=1_939) == 2 * 875
    assert choose_steps(2_700, 97, slow, config) == 1_113  # 4,000 tickets: 6.6 epochs at the slow speed
    assert choose_steps(2_700, 97, fast, config) == 10 * 169  # and the cap of 10 at the fast one
    assert choose_steps(1_000_000, 128, slow, config) == 843  # 1.3% of an epoch: the budget holds
    assert choose_steps(14_000, 64, 50_000.0, config) == 10 * 875  # a GPU
    assert choose_steps(14_000, 64, float("inf"), config) == 10 * 875  # too few batches to measure
    assert choose_steps(2_700, 97, slow, TrainingConfig(epochs=2)) == 2 * 169  # an explicit choice wins
    assert choose_steps(2_700, 97, slow, TrainingConfig(epochs=2, batch_size=32)) == 2 * 85


def _fine_tune_tiny(tmp_path, config, name="model"):
    return fine_tune(
        train_texts=TEXTS,
        train_labels=["CLEAN_FIBRE", "CLEAN_FIBRE", "DISPATCH_GENERATOR"],
        val_texts=[],
        val_labels=[],
        labels=["CLEAN_FIBRE", "DISPATCH_GENERATOR"],
        config=config,
        output_dir=tmp_path / name,
    )


@pytest.mark.slow
def test_steps_stop_when_the_time_budget_is_spent_after_one_step_at_least(tmp_path):
    base = str(tiny_encoder_dir(tmp_path / "base"))
    # three tickets make one batch of 4: nothing to time, so the plan is the cap of ten epochs
    roomy = _fine_tune_tiny(tmp_path, TrainingConfig(base_model=base, max_length=48, batch_size=4), "roomy")
    assert (roomy["planned_steps"], roomy["steps"], roomy["epochs_run"]) == (10, 10, 10)
    assert roomy["stopped"] is None

    # a budget no longer than the reserve for saving is spent before the second epoch starts
    spent = _fine_tune_tiny(
        tmp_path, TrainingConfig(base_model=base, max_length=48, batch_size=4, time_budget_s=15), "spent"
    )
    assert (spent["planned_steps"], spent["steps"], spent["epochs_run"]) == (10, 1, 1)
    assert spent["stopped"] == "time budget of 15 s spent at step 1"
    assert (tmp_path / "spent" / "model.safetensors").is_file()


@pytest.mark.slow
def test_a_budget_spent_inside_the_first_epoch_stops_it_there(tmp_path, monkeypatch):
    import ml.training.fine_tuning

    # a plan of ten epochs (fixed: the probe's timing differs run to run) on a budget no longer than
    # the reserve for saving: the first epoch of three steps stops after its first step
    monkeypatch.setattr(ml.training.fine_tuning, "choose_steps", lambda *args, **kwargs: 30)
    base = str(tiny_encoder_dir(tmp_path / "base"))
    config = TrainingConfig(base_model=base, max_length=48, batch_size=1, time_budget_s=15)
    info = _fine_tune_tiny(tmp_path, config)

    assert (info["planned_steps"], info["steps"], info["epochs_run"]) == (30, 1, 1)
    assert info["stopped"] == "time budget of 15 s spent at step 1"
    assert [epoch["steps"] for epoch in info["history"]] == [1]
    assert (tmp_path / "model" / "model.safetensors").is_file()


@pytest.mark.slow
def test_a_plan_of_one_and_a_half_epochs_cuts_the_last_epoch_short(tmp_path, monkeypatch):
    import ml.training.fine_tuning

    # the plan comes from a timing that differs run to run: fix it to see the loop follow it
    monkeypatch.setattr(ml.training.fine_tuning, "choose_steps", lambda *args, **kwargs: 3)
    base = str(tiny_encoder_dir(tmp_path / "base"))
    info = _fine_tune_tiny(tmp_path, TrainingConfig(base_model=base, max_length=48, batch_size=2))

    assert (info["epochs"], info["planned_steps"], info["steps"]) == (2, 3, 3)  # 2 batches an epoch
    assert [epoch["steps"] for epoch in info["history"]] == [2, 1]


@pytest.mark.slow
def test_the_plan_is_made_again_from_the_speed_of_real_steps(tmp_path, monkeypatch):
    import ml.training.fine_tuning

    # a probe reading absurdly slow plans one epoch; real steps, timed after two, show room for ten
    monkeypatch.setattr(ml.training.fine_tuning, "measure_speed", lambda *args: 1e-3)
    monkeypatch.setattr(ml.training.fine_tuning, "REPLAN_AFTER_STEPS", 2)
    base = str(tiny_encoder_dir(tmp_path / "base"))
    info = _fine_tune_tiny(tmp_path, TrainingConfig(base_model=base, max_length=48, batch_size=1))

    assert (info["planned_steps_probe"], info["planned_steps"], info["steps"]) == (3, 30, 30)
    assert (info["epochs"], info["epochs_run"], info["stopped"]) == (10, 10, None)
    assert info["tokens_per_s_trained"] > 1.0


def _fine_tune_scripted(tmp_path, monkeypatch, val_f1s: list[float]) -> dict:
    """Three tickets in one batch of 4 (one step an epoch, a plan of ten), with validation passes
    scoring ``val_f1s`` in turn."""
    import ml.training.fine_tuning

    scores = iter(val_f1s)
    monkeypatch.setattr(ml.training.fine_tuning, "macro_f1", lambda *args: next(scores))
    base = str(tiny_encoder_dir(tmp_path / "base"))
    return fine_tune(
        train_texts=TEXTS,
        train_labels=["CLEAN_FIBRE", "CLEAN_FIBRE", "DISPATCH_GENERATOR"],
        val_texts=TEXTS[:2],
        val_labels=["CLEAN_FIBRE", "DISPATCH_GENERATOR"],
        labels=["CLEAN_FIBRE", "DISPATCH_GENERATOR"],
        config=TrainingConfig(base_model=base, max_length=48, batch_size=4),
        output_dir=tmp_path / "model",
    )


@pytest.mark.slow
def test_the_first_epoch_without_improvement_winds_the_plan_down_over_patience_epochs(tmp_path, monkeypatch):
    # epoch 3 falls short of epoch 2: the plan of ten ends two epochs later (patience 2), and an
    # improvement while winding down is kept without stretching the plan again
    info = _fine_tune_scripted(tmp_path, monkeypatch, [0.5, 0.6, 0.55, 0.7, 0.4])
    assert (info["wound_down_at"], info["planned_steps_probe"], info["planned_steps"]) == (3, 10, 5)
    assert (info["epochs_run"], info["steps"], info["best_epoch"]) == (5, 5, 4)
    assert [epoch["val_macro_f1"] for epoch in info["history"]] == [0.5, 0.6, 0.55, 0.7, 0.4]


@pytest.mark.slow
def test_two_epochs_without_improvement_no_longer_stop_training_at_a_high_learning_rate(
    tmp_path, monkeypatch
):
    # patience used to stop here after epoch 3; now epochs 3 and 4 run as the rate falls to zero
    info = _fine_tune_scripted(tmp_path, monkeypatch, [0.5, 0.4, 0.4, 0.45])
    assert (info["wound_down_at"], info["epochs_run"], info["best_epoch"]) == (2, 4, 1)
    assert info["stopped"] is None


@pytest.mark.slow
def test_a_fine_tune_that_keeps_improving_runs_its_whole_plan(tmp_path, monkeypatch):
    info = _fine_tune_scripted(tmp_path, monkeypatch, [0.1 * epoch for epoch in range(1, 11)])
    assert (info["wound_down_at"], info["epochs_run"], info["best_epoch"]) == (None, 10, 10)


def test_the_learning_rate_schedule_follows_the_plan_in_force():
    config = TrainingConfig(warmup_ratio=0.1)
    factors = [linear_schedule(s, 100, config) for s in (0, 5, 10, 55, 100, 120)]
    assert factors == [0.0, 0.5, 1.0, 0.5, 0.0, 0.0]
    # made again at step 50 for 200 steps: warm-up is over, and the decay now ends at 200
    assert linear_schedule(50, 200, config) == pytest.approx(150 / 180)
    assert linear_schedule(200, 200, config) == 0.0


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
