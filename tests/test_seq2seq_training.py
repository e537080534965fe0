import copy

import pytest
import torch

from models.seq2seq.recipes import DEFAULT_DATES_RECIPE, train_default_dates
from models.seq2seq.schedules import lr_at
from models.seq2seq.tasks import reversal_task
from models.seq2seq.training import TrainParams, selection_key, train

#: Tiny models gain nothing from a 2nd thread (conftest's ``one_torch_thread``).
pytestmark = pytest.mark.usefixtures("one_torch_thread")


REVERSAL_CONFIG = {
    "emb_dim": 32,
    "hidden": 64,
    "attention": "luong-general",
    "max_src_len": 16,
    "max_tgt_len": 16,
}


def test_short_reversal_run_learns_alignment():
    """A real ~3 s run: attention must align output i with source n-1-i (>= 90% of gold links)."""
    task = reversal_task(n_train=2000, n_dev=200, n_test=200, max_len=8, seed=0)
    events = []
    params = {
        "epochs": 6,
        "batch_size": 64,
        "lr": 5e-3,
        "schedule": "linear",
        "warmup_steps": 10,
        "min_lr": 5e-4,
    }
    result = train(REVERSAL_CONFIG, task.train, task.dev, params, report=events.append)
    assert result.metrics["dev_alignment_accuracy"] >= 0.9
    assert result.metrics["dev_exact_match"] >= 0.6
    epochs = [e for e in events if e["event"] == "epoch"]
    steps = [e for e in events if e["event"] == "step"]
    assert (
        [e["epoch"] for e in epochs] == [1, 2, 3, 4, 5, 6]
        and steps
        and {"step", "epoch", "lr", "train_loss"} <= set(steps[0])
    )
    assert {"dev_loss", "dev_exact_match", "dev_token_accuracy", "dev_alignment_accuracy"} <= set(epochs[0])
    # lr history follows the schedule formula
    cfg = TrainParams.from_dict(params).schedule_config(result.metrics["steps"])
    assert result.lr_history == pytest.approx([lr_at(s, cfg) for s in range(result.metrics["steps"])])
    # the best dev epoch's weights are restored: lowest token error rate (the default), then dev loss
    best = min(epochs, key=lambda e: (e["dev_token_error_rate"], e["dev_loss"]))
    assert (
        result.metrics["best_epoch"] == best["epoch"] and result.metrics["selected_by"] == "token_error_rate"
    )
    assert result.metrics["dev_exact_match"] == best["dev_exact_match"]


def test_epochs_count_from_one_in_reports_and_best_epoch():
    """Like the embeddings service's job reports: epoch 1 is the first, best_epoch is one of them."""
    task = reversal_task(n_train=40, n_dev=8, n_test=8, max_len=4, seed=2)
    events = []
    params = {"epochs": 3, "batch_size": 16, "report_every": 1}
    result = train({"emb_dim": 4, "hidden": 8}, task.train, task.dev, params, report=events.append)
    epochs = [e["epoch"] for e in events if e["event"] == "epoch"]
    steps = [e["epoch"] for e in events if e["event"] == "step"]
    assert epochs == [1, 2, 3]
    assert steps == [1] * 3 + [2] * 3 + [3] * 3  # 40 pairs / 16 = 3 batches an epoch
    assert result.metrics["best_epoch"] in epochs and result.metrics["epochs_run"] == 3


def test_reproducible_and_stoppable():
    task = reversal_task(n_train=200, n_dev=20, n_test=20, max_len=6, seed=1)
    params = {"epochs": 2, "batch_size": 32, "teacher_forcing": 0.7, "seed": 5, "report_every": 1}
    small = {"emb_dim": 8, "hidden": 16, "attention": "bahdanau", "dropout": 0.2}
    a = train(small, task.train, task.dev, params)
    b = train(small, task.train, task.dev, params)
    for k, v in a.model.state_dict().items():
        assert torch.equal(v, b.model.state_dict()[k])
    assert [e.get("train_loss") for e in a.history] == [e.get("train_loss") for e in b.history]
    calls = []
    c = train(small, task.train, task.dev, params, should_stop=lambda: len(calls.append(1) or calls) > 3)
    assert c.metrics["stopped"] == "should_stop" and c.metrics["steps"] == 3
    d = train(small, [(e.source, e.target) for e in task.train], None, {**params, "max_steps": 4})
    assert d.metrics["steps"] == 4 and d.metrics["stopped"] == "max_steps"
    e = train(small, task.train, task.dev, {**params, "epochs": 50, "max_time_s": 1e-9})
    assert e.metrics["stopped"] == "max_time_s" and e.metrics["steps"] == 0
    f = train(small, task.train, task.dev, {**params, "epochs": 50, "max_time_s": 0.5})
    assert f.metrics["stopped"] == "max_time_s" and 0 < f.metrics["steps"] < 50 * 7
    assert "best_epoch" in f.metrics  # the cut epoch was evaluated and the best kept
    with pytest.raises(ValueError):
        TrainParams(max_time_s=0)


def test_bad_params():
    with pytest.raises(ValueError):
        TrainParams.from_dict({"epochs": 1, "learning_rate": 1})
    with pytest.raises(ValueError):
        train({"hidden": 8}, [("ab", "ba"), ["", "x"]], None, {"epochs": 1})


def test_default_recipe_is_valid():
    from models.seq2seq.model import Seq2SeqConfig

    Seq2SeqConfig.from_dict(DEFAULT_DATES_RECIPE["config"])
    TrainParams.from_dict(DEFAULT_DATES_RECIPE["params"])


@pytest.mark.slow
def test_default_dates_model_reaches_99_percent():
    result = train_default_dates()
    assert result.metrics["test_exact_match"] > 0.99


def test_word_level_with_pretrained_source_vectors(tmp_path):
    from models.seq2seq.checkpoint import load_word_vectors
    from models.seq2seq.inference import translate

    path = tmp_path / "vec.txt"
    path.write_text("3 4\nthe 1 0 0 0\ncat 0 1 0 0\nsat 0 0 1 0\n")
    pairs = [("the cat sat", "sat cat the"), ("cat sat", "sat cat"), ("the dog", "dog the")] * 4
    cfg = {"emb_dim": 4, "hidden": 8, "tokenization": "word", "attention": "luong-concat"}
    result = train(cfg, pairs, pairs[:3], {"epochs": 2, "batch_size": 4}, src_vectors=load_word_vectors(path))
    assert result.metrics["src_vector_coverage"] == pytest.approx(3 / 4)
    out = translate(result.model, ["the cat sat"], beam_size=2)[0]
    assert out.src_tokens == ["the", "cat", "sat"] and out.text == " ".join(out.tokens)
    with pytest.raises(ValueError):
        train({**cfg, "emb_dim": 6}, pairs, None, {"epochs": 1}, src_vectors=load_word_vectors(path))


def test_too_long_dev_source_rejected_before_training():
    with pytest.raises(ValueError, match="line 2"):
        train({"hidden": 8, "max_src_len": 4}, [("ab", "ba")], [("ab", "ba"), ("abcdef", "x")], {"epochs": 1})


def test_per_side_tokenization_g2p_reports_error_rates(tmp_path):
    """char source, word (phoneme) target: vocabularies, outputs and dev metrics follow each side's units."""
    import json

    from models.seq2seq.checkpoint import load_checkpoint, save_checkpoint
    from models.seq2seq.data import Example
    from models.seq2seq.evaluation import evaluate
    from models.seq2seq.inference import translate
    from models.seq2seq.tasks import make_task

    task = make_task("g2p", n_train=300, n_dev=30, n_test=30, max_len=8)
    cfg = {"emb_dim": 8, "hidden": 16, "tokenization": task.tokenization, "max_src_len": 8, "max_tgt_len": 12}
    events = []
    result = train(cfg, task.train, task.dev, {"epochs": 1, "batch_size": 32}, report=events.append)
    model = result.model
    assert model.src_tokenizer.kind == "char" and model.tgt_tokenizer.kind == "word"
    assert all(len(t) == 1 for t in model.src_vocab.tokens[4:])
    assert any(len(t) > 1 for t in model.tgt_vocab.tokens[4:])  # phonemes like "AH"
    epoch = [e for e in events if e["event"] == "epoch"][0]
    assert 0.0 <= epoch["dev_sequence_error_rate"] <= 1.0 and epoch["dev_token_error_rate"] >= 0.0
    assert "dev_token_error_rate" in result.metrics
    out = translate(model, ["cat"])[0]
    assert out.src_tokens == ["c", "a", "t"] and out.text == " ".join(out.tokens)
    # every reference counts: the model's own output as an alternative makes it exactly right
    ex = Example("cat", "ZZ ZZ", None, (out.text,))
    m = evaluate(model, [ex])
    assert m["exact_match"] == 1.0 and m["sequence_error_rate"] == 0.0 and m["token_error_rate"] == 0.0
    # the checkpoint keeps both sides; an old one-value config still loads (same tokenizer both sides)
    save_checkpoint(tmp_path / "g2p", model)
    back, _ = load_checkpoint(tmp_path / "g2p")
    assert back.config.tokenization == {"source": "char", "target": "word"}
    assert translate(back, ["cat"])[0].tokens == out.tokens
    conf = json.loads((tmp_path / "g2p" / "config.json").read_text())
    conf["tokenization"] = "word"
    (tmp_path / "g2p" / "config.json").write_text(json.dumps(conf))
    old, _ = load_checkpoint(tmp_path / "g2p")
    assert old.src_tokenizer.kind == old.tgt_tokenizer.kind == "word"


#: An over-fitting run (100 pairs, 14 epochs) whose dev loss and token error rate bottom out at
#: different epochs (measured: loss at epoch 12, token error rate at 14).
SELECT_TASK = reversal_task(n_train=100, n_dev=30, n_test=10, max_len=5, seed=3)
SELECT_CONFIG = {
    "emb_dim": 16,
    "hidden": 32,
    "max_src_len": 8,
    "max_tgt_len": 8,
    "input_feeding": True,
}  # as measured
SELECT_PARAMS = {"epochs": 14, "batch_size": 20, "lr": 1e-2}


def _epochs(result):
    return [e for e in result.history if e["event"] == "epoch"]


def test_select_by_chooses_the_checkpoint_by_that_metric():
    from models.seq2seq.evaluation import evaluate

    chosen = {}
    for select_by in ("loss", "token_error_rate"):
        result = train(
            SELECT_CONFIG, SELECT_TASK.train, SELECT_TASK.dev, {**SELECT_PARAMS, "select_by": select_by}
        )
        keyed = {e["epoch"]: (e[f"dev_{select_by}"], e["dev_loss"]) for e in _epochs(result)}
        assert result.metrics["best_epoch"] == min(keyed, key=keyed.get)
        assert result.metrics["selected_by"] == select_by
        # the restored weights are that epoch's: evaluating them again gives the reported figures
        again = evaluate(result.model, SELECT_TASK.dev, with_bleu=False)
        assert again[select_by] == pytest.approx(result.metrics[f"dev_{select_by}"])
        chosen[select_by] = result.metrics["best_epoch"]
    assert chosen["loss"] != chosen["token_error_rate"]  # the metric made the choice
    assert selection_key({"exact_match": 0.5, "loss": 1.0}, "exact_match") < selection_key(
        {"exact_match": 0.4, "loss": 0.1}, "exact_match"
    )  # higher exact match wins over lower loss
    with pytest.raises(ValueError, match="select_by"):
        TrainParams(select_by="bleu")


@pytest.mark.parametrize(("epochs", "expect_kept"), [(6, False), (7, True)])  # measured outcomes
def test_average_last_averages_the_last_evaluated_checkpoints(epochs, expect_kept):
    """Kept when better by select_by (here token error rate, then dev loss), else the best epoch stays."""
    from models.seq2seq.checkpoint import average_state_dicts
    from models.seq2seq.evaluation import evaluate

    params = {**SELECT_PARAMS, "epochs": epochs, "average_last": 3}
    trained, states = [], {}  # the model being trained; its weights after every epoch

    def keep_weights(event):
        if event["event"] == "epoch":
            states[event["epoch"]] = {k: v.clone() for k, v in trained[0].state_dict().items()}

    result = train(
        SELECT_CONFIG,
        SELECT_TASK.train,
        SELECT_TASK.dev,
        params,
        report=keep_weights,
        init_model=trained.append,
    )
    m = result.metrics
    last3 = [epochs - 2, epochs - 1, epochs]
    assert m["averaged_epochs"] == last3 and m["average_kept"] is expect_kept
    average = copy.deepcopy(result.model)
    average.load_state_dict(average_state_dicts([states[e] for e in last3]))
    scored = evaluate(average, SELECT_TASK.dev, with_bleu=False)
    assert m["average_dev_token_error_rate"] == pytest.approx(scored["token_error_rate"])
    best = min(_epochs(result), key=lambda e: (e["dev_token_error_rate"], e["dev_loss"]))
    assert m["average_kept"] == (
        (scored["token_error_rate"], scored["loss"]) < (best["dev_token_error_rate"], best["dev_loss"])
    )
    # the returned model: the average, or else the selected epoch's weights; its figures are reported
    returned = average.state_dict() if m["average_kept"] else states[best["epoch"]]
    for k, v in result.model.state_dict().items():
        assert torch.allclose(v, returned[k], atol=1e-6)
    reported = scored["token_error_rate"] if m["average_kept"] else best["dev_token_error_rate"]
    assert m["dev_token_error_rate"] == pytest.approx(reported) and m["best_epoch"] == best["epoch"]
    off = train(SELECT_CONFIG, SELECT_TASK.train, SELECT_TASK.dev, {**SELECT_PARAMS, "epochs": 2})
    assert "average_kept" not in off.metrics and "averaged_epochs" not in off.metrics  # average_last 1: off
    with pytest.raises(ValueError, match="average_last"):
        TrainParams(average_last=0)


def test_label_smoothing_trains_on_the_smoothed_loss_and_reports_the_nll():
    task = reversal_task(n_train=200, n_dev=10, n_test=10, max_len=6, seed=4)
    small = {"emb_dim": 16, "hidden": 32}
    params = {"epochs": 12, "batch_size": 20, "lr": 1e-2, "report_every": 1}
    plain = train(small, task.train, None, params)
    smooth = train(small, task.train, None, {**params, "label_smoothing": 0.3})
    first = [e["train_loss"] for e in plain.history[:2]], [e["train_loss"] for e in smooth.history[:2]]
    # update 1: same weights and batch, so the same NLL is reported; then the updates differ
    assert first[0][0] == pytest.approx(first[1][0]) and first[0][1] != pytest.approx(first[1][1])

    def confidence(model):  # mean probability of the most likely next token, teacher-forced on train
        from models.seq2seq.data import encode_examples, iterate_batches

        data = encode_examples(task.train, model.src_tokenizer, model.src_vocab, model.tgt_vocab)
        batch = next(iter(iterate_batches(data, model.tgt_vocab, 64)))
        with torch.no_grad():
            logits, _ = model(batch.src, batch.src_lengths, batch.tgt_in)  # (B, T, V)
        mask = batch.tgt_out != model.tgt_vocab.pad_id  # (B, T)
        return float(logits.softmax(-1).amax(-1)[mask].mean())

    # the smoothed targets leave mass on every token: the model is less sure of its best token
    assert confidence(smooth.model) < confidence(plain.model) - 0.1  # measured 0.57 vs 0.79
    with pytest.raises(ValueError, match="label_smoothing"):
        TrainParams(label_smoothing=1.0)


def test_time_budget_moves_the_linear_decay_to_the_budget_end():
    """With max_time_s the linear schedule ends near min_lr when time runs out, not at 200 epochs' end."""
    task = reversal_task(n_train=200, n_dev=10, n_test=10, max_len=6, seed=1)
    small = {"emb_dim": 8, "hidden": 16}
    params = {"epochs": 200, "batch_size": 32, "lr": 1e-2, "schedule": "linear", "warmup_steps": 5}
    result = train(small, task.train, task.dev, {**params, "max_time_s": 1.5, "report_every": 1})
    lrs = result.lr_history
    assert result.metrics["stopped"] == "max_time_s" and len(lrs) < 200 * 7
    # without re-estimation the lr at that step would still be near 1e-2 (1400 steps planned)
    planned = TrainParams.from_dict(params).schedule_config(200 * 7)
    assert lr_at(len(lrs) - 1, planned) > 0.8 * 1e-2
    assert lrs[-1] < 0.3 * 1e-2  # ...but it decayed to the end of the budget
    after_warmup = lrs[5:]
    assert all(b <= a + 1e-12 for a, b in zip(after_warmup, after_warmup[1:], strict=False))  # no jump up
    totals = [e["total_steps"] for e in result.history if e["event"] == "step"]
    assert totals[0] == 200 * 7 and totals[-1] < 200 * 7  # step events report the estimate
