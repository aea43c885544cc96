"""The text study (knas.text): wiring, enumeration, MGM on a tiny RoBERTa, GLUE TSV loaders,
fine-tuning, the CLI, and clear errors for bad input. Offline; small models (hidden 16)."""
from __future__ import annotations

import argparse
import copy
import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing here may reach the hub
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import pytest
import torch
from torch import nn

from knas.text.data import load_task, make_smoke_task, read_mrpc_tsv, read_rte_tsv, write_task
from knas.text.finetune import FinetuneConfig, evaluate, finetune, make_optimizer, train_step
from knas.text.model import TinyConfig, build_word_tokenizer, collate, encode_rows, reset_head, tiny_model
from knas.text.score import sample_rows, score_candidates, text_mgm
from knas.text.summary import summarize
from knas.text.wiring import LENGTHS, STRUCTURES, Wiring, candidates, get_wiring, rewire

SMALL = TinyConfig(num_hidden_layers=24, hidden_size=16, num_attention_heads=2, intermediate_size=32)
MAXLEN = 32


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models on a shared 2-core machine: one intra-op thread is several times faster."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def smoke():
    return make_smoke_task(48, 16, seed=3)


@pytest.fixture(scope="module")
def tok(smoke):
    return build_word_tokenizer(s for r in smoke["train"] for s in (r["sentence1"], r["sentence2"]))


def small_model(tok, *, dropout: float = 0.1, layers: int = 24, dtype=torch.float32) -> nn.Module:
    cfg = TinyConfig(num_hidden_layers=layers, hidden_size=16, num_attention_heads=2, intermediate_size=32,
                     hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    m = tiny_model(len(tok), max_length=MAXLEN, pad_token_id=tok.pad_token_id, config=cfg)
    reset_head(m, 0)
    return m.to(dtype).eval()


def padded_batch(tok, rows):
    b = collate(encode_rows(tok, rows, MAXLEN), tok.pad_token_id)
    assert len(set(b["attention_mask"].sum(1).tolist())) > 1, "test batch should contain padding"
    return b


def logits(model, b):
    with torch.no_grad():
        return model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits


# -------------------------------------------------------------------------------------------------
# search space
# -------------------------------------------------------------------------------------------------
def test_candidates_enumeration():
    cands = candidates(24)
    assert len(cands) == 30 == len(STRUCTURES) * len(LENGTHS)
    assert [w.name for w in cands[:2]] == ["highway-L2", "highway-L3"] and cands[-1].name == "densenet-L11"
    assert len({w.name for w in cands}) == 30
    for depth in (24, 12):  # RoBERTa-large, RoBERTa-base
        srcs = [w.sources(depth) for w in candidates(depth)]
        assert len(set(srcs)) == 30, f"wirings not pairwise distinct at {depth} layers"
        # only highway-L2 is the stock function (documented: avg of the same state twice)
        assert [w.name for w in candidates(depth) if w.same_as_baseline(depth)] == ["highway-L2"]
    for w in cands:
        assert Wiring.parse(w.name) == w
    assert Wiring.parse("baseline") == Wiring.parse("identity") == Wiring()
    with pytest.raises(ValueError, match="at least 12 layers"):
        candidates(6)


def test_cells_and_sources_by_hand():
    assert Wiring("densenet", 5).cells(24) == ((1, 5), (6, 10), (11, 15), (16, 20), (21, 24))
    assert Wiring("highway", 11).cells(24) == ((1, 11), (12, 22), (23, 24))  # last cell: the remainder
    assert Wiring("lookahead", 8).cells(24) == ((1, 8), (9, 16), (17, 24))
    assert Wiring("highway", 3).sources(6) == ((0,), (1,), (1, 2), (3,), (4,), (4, 5))
    assert Wiring("lookahead", 3).sources(6) == ((0,), (1,), (0, 1, 2), (3,), (4,), (3, 4, 5))
    assert Wiring("densenet", 2).sources(6) == ((0,), (1,), (0, 2), (3,), (0, 2, 4), (5,))
    assert Wiring("lookahead", 4).sources(6) == ((0,), (1,), (2,), (0, 1, 2, 3), (4,), (4, 5))
    assert Wiring().sources(3) == ((0,), (1,), (2,))
    assert Wiring("highway", 3).describe(6) == "L3<-avg(1,2); L6<-avg(4,5)"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(structure="highway", L=1), "outside 2..11"),
        (dict(structure="densenet", L=12), "outside 2..11"),
        (dict(structure="lookahead", L=None), "outside 2..11"),
        (dict(structure="lookahead", L="3"), "outside 2..11"),
        (dict(structure="resnet", L=3), "allowed: identity, highway, lookahead, densenet"),
        (dict(structure="identity", L=3), "no cell length"),
    ],
)
def test_bad_wiring(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Wiring(**kwargs)


def test_bad_wiring_name():
    with pytest.raises(ValueError, match="bad wiring name"):
        Wiring.parse("highway-3")
    with pytest.raises(ValueError, match="outside 2..11"):
        Wiring.parse("highway-L13")


# -------------------------------------------------------------------------------------------------
# the rewired encoder
# -------------------------------------------------------------------------------------------------
def test_identity_wiring_equals_stock_model(tok, smoke):
    model = small_model(tok)
    stock = copy.deepcopy(model)
    b = padded_batch(tok, smoke["train"][:6])
    ref = logits(stock, b)
    rewire(model, "identity")
    assert type(model.roberta.encoder).__name__ == "RewiredRobertaEncoder"
    assert torch.equal(logits(model, b), ref)
    rewire(model, "densenet-L4")  # change and back
    assert not torch.allclose(logits(model, b), ref)
    rewire(model, Wiring())
    assert torch.equal(logits(model, b), ref)
    rewire(model, "highway-L2")  # documented: functionally the stock model
    assert torch.equal(logits(model, b), ref)
    # the stock model's training-mode forward is reproduced too (same dropout draws)
    model.train(), stock.train()
    rewire(model, "identity")
    torch.manual_seed(5)
    a = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits
    torch.manual_seed(5)
    c = stock(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits
    assert torch.equal(a, c)


def test_rewiring_keeps_parameters_and_changes_function(tok, smoke):
    model = small_model(tok)
    stock = copy.deepcopy(model)
    sd0 = stock.state_dict()
    n0 = sum(p.numel() for p in stock.parameters())
    b = padded_batch(tok, smoke["train"][:4])
    ref = logits(stock, b)
    outs = {}
    for w in candidates(24):
        rewire(model, w)
        assert get_wiring(model) == w
        assert sum(p.numel() for p in model.parameters()) == n0
        out = logits(model, b)
        assert torch.isfinite(out).all()
        if not w.same_as_baseline(24):
            assert not torch.allclose(out, ref, atol=1e-6), w.name
        outs[w.name] = out
    sd = model.state_dict()
    assert list(sd) == list(sd0) and all(torch.equal(sd[k], sd0[k]) for k in sd0)
    # distinct wirings are distinct functions
    names = [w.name for w in candidates(24) if not w.same_as_baseline(24)]
    for i, a in enumerate(names):
        for c in names[i + 1 :]:
            assert not torch.allclose(outs[a], outs[c], atol=1e-7), (a, c)
    # a checkpoint of the stock model loads into the rewired one unchanged (same keys)
    model.load_state_dict(sd0)


@pytest.mark.parametrize("name", ["highway-L3", "lookahead-L4", "densenet-L5"])
def test_rewired_forward_matches_manual_averaging(tok, smoke, name):
    """Recompute the rewired forward by hand from the stock layers (float64; no padding: mask None).

    Compared on the last hidden state: the tiny random model is nearly invariant to the scale of a
    layer's input (post-LN with small weights), so the logits alone would hide a wrong fusion."""
    model = small_model(tok, layers=12, dtype=torch.float64)
    w = Wiring.parse(name)
    ids = collate(encode_rows(tok, smoke["train"][:1], MAXLEN), tok.pad_token_id)["input_ids"]  # (1, T)
    with torch.no_grad():
        states = [model.roberta.embeddings(input_ids=ids)]  # (1, T, H)
        for i, layer in enumerate(model.roberta.encoder.layer):
            src = w.sources(12)[i]
            x = sum(states[s] for s in src) / len(src)
            states.append(layer(x, None))
        rewire(model, w)
        got = model.roberta(input_ids=ids).last_hidden_state
    torch.testing.assert_close(got, states[-1], rtol=1e-12, atol=1e-12)


def test_rewire_rejects_non_roberta():
    with pytest.raises(ValueError, match="RoBERTa"):
        rewire(nn.Linear(3, 2), "highway-L3")


# -------------------------------------------------------------------------------------------------
# MGM
# -------------------------------------------------------------------------------------------------
def _per_example_grads(model, examples, pad_id):
    """Reference: each example forwarded alone (no padding) -> flat gradient (P,)."""
    params = [p for p in model.parameters() if p.requires_grad]
    out = []
    for e in examples:
        b = collate([e], pad_id)
        loss = torch.nn.functional.cross_entropy(
            model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits, b["labels"]
        )
        g = torch.autograd.grad(loss, params, allow_unused=True)
        out.append(torch.cat([(gi if gi is not None else torch.zeros_like(p)).reshape(-1) for gi, p in zip(g, params)]))
    return torch.stack(out)  # (n, P)


def test_text_mgm_equals_gram_mean_of_single_example_gradients(tok, smoke):
    model = small_model(tok, layers=12, dtype=torch.float64)
    rewire(model, "lookahead-L3")
    ex = encode_rows(tok, smoke["train"][:6], MAXLEN)
    G = _per_example_grads(model, ex, tok.pad_token_id)  # (n, P)
    n = G.shape[0]
    ref = float((G @ G.T).sum()) / n**2  # Eq. 15: mean of the Gram matrix
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    res = text_mgm(model, ex, tok.pad_token_id, chunk=None)
    assert res.n == 6 and res.value > 0
    assert res.value == pytest.approx(ref, rel=1e-9)
    # chunking (different padding per chunk) does not change it
    assert text_mgm(model, ex, tok.pad_token_id, chunk=4).value == pytest.approx(ref, rel=1e-9)
    # the model is left as it was
    assert model.training and all(p.grad is None for p in model.parameters())
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_text_mgm_matches_proxy_library_mgm(tok, smoke):
    """Same formula as the image proxy library's ``mgm`` (fed token ids through an adapter)."""
    proxies = pytest.importorskip("knas.proxies")
    if "mgm" not in proxies.load_all():
        pytest.skip("proxy library has no mgm")
    model = small_model(tok, layers=12, dropout=0.0, dtype=torch.float64)  # no dropout: train mode = eval
    rewire(model, "densenet-L3")
    ex = encode_rows(tok, smoke["train"][:5], MAXLEN)
    b = collate(ex, tok.pad_token_id)

    class TokenAdapter(nn.Module):  # x: (N, 2, T) float = (ids, mask)
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            return self.m(input_ids=x[:, 0].long(), attention_mask=x[:, 1].long()).logits

    x = torch.stack([b["input_ids"], b["attention_mask"]], 1).double()
    lib = proxies.compute("mgm", TokenAdapter(model), proxies.ProxyBatch(x, b["labels"], 2), n=5)
    ours = text_mgm(model, ex, tok.pad_token_id, chunk=None).value
    assert ours == pytest.approx(lib.value, rel=1e-9)


def test_score_candidates_on_tiny_model(tok, smoke):
    model = small_model(tok)
    df = score_candidates(model, tok, smoke["train"], n=6, max_length=MAXLEN, seed=1, chunk=None)
    assert len(df) == 31 and df["candidate"].iloc[0] == "identity" and pd_isna(df["rank"].iloc[0])
    assert sorted(df["rank"].iloc[1:].tolist()) == list(range(1, 31))
    assert (df["mgm"] > 0).all() and df["num_params"].nunique() == 1 and (df["n"] == 6).all()
    mgm = dict(zip(df["candidate"], df["mgm"]))
    assert mgm["highway-L2"] == mgm["identity"]
    assert len({round(v, 12) for k, v in mgm.items() if k != "highway-L2"}) == 30
    best = df.loc[df["rank"] == 1, "mgm"].item()
    assert best == df["mgm"].iloc[1:].max()
    assert get_wiring(model) == Wiring()  # left with the identity wiring
    # deterministic under the seed
    df2 = score_candidates(model, tok, smoke["train"], n=6, max_length=MAXLEN, seed=1, chunk=3,
                           wirings=[Wiring("highway", 5)])
    assert df2["mgm"].iloc[1] == pytest.approx(mgm["highway-L5"], rel=1e-5)


def pd_isna(v) -> bool:
    import pandas as pd

    return bool(pd.isna(v))


def test_sample_rows_errors(smoke):
    rows = smoke["train"]
    assert sample_rows(rows, 5, 0) == sample_rows(rows, 5, 0) != sample_rows(rows, 5, 1)
    assert sample_rows(rows, None, 0) == rows
    with pytest.raises(ValueError, match="exceeds the training set"):
        sample_rows(rows, len(rows) + 1, 0)
    with pytest.raises(ValueError, match="mgm_n"):
        sample_rows(rows, 0, 0)


# -------------------------------------------------------------------------------------------------
# data
# -------------------------------------------------------------------------------------------------
MRPC_TRAIN = (
    "\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
    '1\t702876\t702977\tAmrozi accused his brother , whom he called " the witness " .\tReferring to him as only " the witness " , Amrozi accused his brother .\n'
    "0\t2108705\t2108831\tYucaipa owned Dominick 's before selling .\tYucaipa bought Dominick 's in 1995 .\n"
)
RTE_DEV = (
    "index\tsentence1\tsentence2\tlabel\n"
    "0\tDana Reeve, the widow of the actor, died.\tChristopher Reeve had an accident.\tnot_entailment\n"
    "1\tYet, we now are discovering \"things\".\tBacteria is winning the war.\tentailment\n"
)


def test_read_mrpc_tsv(tmp_path):
    (tmp_path / "train.tsv").write_text(MRPC_TRAIN, encoding="utf-8")
    (tmp_path / "dev.tsv").write_text(MRPC_TRAIN.lstrip("\ufeff"), encoding="utf-8")
    rows = read_mrpc_tsv(tmp_path / "train.tsv")
    assert [r["label"] for r in rows] == [1, 0]
    assert rows[0]["sentence1"].startswith('Amrozi accused his brother , whom he called " the witness "')
    assert rows[1]["sentence2"] == "Yucaipa bought Dominick 's in 1995 ."
    task = load_task("mrpc", tmp_path)
    assert task["train"] == task["dev"] == rows


def test_read_rte_tsv_and_roundtrip(tmp_path):
    (tmp_path / "train.tsv").write_text(RTE_DEV)
    (tmp_path / "dev.tsv").write_text(RTE_DEV)
    rows = read_rte_tsv(tmp_path / "dev.tsv")
    assert [(r["idx"], r["label"]) for r in rows] == [(0, 1), (1, 0)]  # 0 = entailment
    assert rows[1]["sentence1"] == 'Yet, we now are discovering "things".'
    out = tmp_path / "copy"
    write_task("rte", load_task("rte", tmp_path), out)
    assert load_task("rte", out) == load_task("rte", tmp_path)
    smoke = make_smoke_task(10, 4, seed=0)
    write_task("smoke", smoke, tmp_path / "smoke")
    assert (tmp_path / "smoke" / "train.tsv").read_text().startswith("Quality\t#1 ID")  # MRPC layout
    assert load_task("smoke", tmp_path / "smoke") == smoke


def test_tsv_errors(tmp_path):
    (tmp_path / "train.tsv").write_text("Quality\t#1 ID\t#2 ID\t#1 String\n1\t1\t2\ta\n")
    with pytest.raises(ValueError, match=r"missing column\(s\) '#2 String'"):
        read_mrpc_tsv(tmp_path / "train.tsv")
    (tmp_path / "bad.tsv").write_text("index\tsentence1\tsentence2\tlabel\n0\ta\tb\tneutral\n")
    with pytest.raises(ValueError, match="entailment, not_entailment"):
        read_rte_tsv(tmp_path / "bad.tsv")
    (tmp_path / "rte_missing.tsv").write_text("index\tsentence1\tsentence2\n0\ta\tb\n")
    with pytest.raises(ValueError, match="missing column.*'label'"):
        read_rte_tsv(tmp_path / "rte_missing.tsv")
    with pytest.raises(FileNotFoundError, match="nowhere.train.tsv"):
        load_task("mrpc", tmp_path / "nowhere")


def test_unknown_task():
    with pytest.raises(ValueError, match="unknown text task 'sst2'; allowed: mrpc, rte, smoke"):
        load_task("sst2")
    with pytest.raises(ValueError, match="unknown text task"):
        write_task("qnli", make_smoke_task(2, 2), "unused")


def test_fetch_glue_maps_hf_rows(monkeypatch):
    import datasets

    fake = {
        "train": [{"sentence1": "a", "sentence2": "b", "label": 1, "idx": 0}],
        "validation": [{"sentence1": "c", "sentence2": "d", "label": 0, "idx": 7}],
    }
    calls = []
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: calls.append(a) or fake)
    task = load_task("rte")
    assert calls == [("glue", "rte")]
    assert task["dev"] == [{"idx": 7, "sentence1": "c", "sentence2": "d", "label": 0}]

    def offline(*a, **k):
        raise ConnectionError("no network")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(RuntimeError, match="text.data_dir"):
        load_task("mrpc")


def test_smoke_task_is_seeded_and_balanced():
    a, b, c = make_smoke_task(40, 20, 1), make_smoke_task(40, 20, 1), make_smoke_task(40, 20, 2)
    assert a == b and a != c
    labels = [r["label"] for s in a.values() for r in s]
    assert labels.count(0) == labels.count(1) == 30
    assert len(a["train"]) == 40 and len(a["dev"]) == 20
    with pytest.raises(ValueError, match="n_train"):
        make_smoke_task(0, 5)


def test_word_tokenizer(tok):
    assert tok.convert_ids_to_tokens([0, 1, 2, 3, 4]) == ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    ids = tok("The cat.", "A zebra")["input_ids"]
    toks = tok.convert_ids_to_tokens(ids)
    assert toks[:2] == ["<s>", "the"] and toks[-1] == "</s>" and toks.count("</s>") == 3
    assert "<unk>" in toks  # 'zebra' is not in the smoke vocabulary
    again = build_word_tokenizer(["b a a", "c b a"])
    assert again.convert_ids_to_tokens([5, 6, 7]) == ["a", "b", "c"]  # by count, ties by word


def test_non_roberta_checkpoint_is_rejected(tmp_path):
    from knas.text.model import load_model_and_tokenizer

    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ValueError, match="RoBERTa models only"):
        load_model_and_tokenizer(str(tmp_path))
    with pytest.raises(ValueError, match="train_rows"):
        load_model_and_tokenizer("tiny")


# -------------------------------------------------------------------------------------------------
# fine-tuning
# -------------------------------------------------------------------------------------------------
def test_finetune_steps_lower_the_loss(tok, smoke):
    torch.manual_seed(0)
    model = small_model(tok, layers=12)
    rewire(model, "highway-L4")
    ex = encode_rows(tok, smoke["train"][:8], MAXLEN)
    b = collate(ex, tok.pad_token_id)
    cfg = FinetuneConfig(lr=3e-3, max_length=MAXLEN)
    opt, sched = make_optimizer(model, cfg, total_steps=15)
    losses = [evaluate(model, ex, tok.pad_token_id)["loss"]]  # eval-mode loss on the batch
    for _ in range(10):
        model.train()
        train_step(model, b, opt, sched, cfg.max_grad_norm)
        losses.append(evaluate(model, ex, tok.pad_token_id)["loss"])
    assert losses[1] < losses[0]  # one step already lowers it
    assert losses[-1] < losses[0] - 0.01, losses
    assert sched.get_last_lr()[0] == pytest.approx(3e-3 * 5 / 15)  # linear decay to 0, no warm-up


def test_finetune_is_deterministic(tok, smoke):
    def run():
        model = small_model(tok, layers=12)
        rewire(model, "lookahead-L5")
        return finetune(model, tok, smoke["train"][:12], smoke["dev"][:8],
                        FinetuneConfig(lr=1e-3, epochs=2, max_length=MAXLEN, seed=4))

    a, b = run(), run()
    strip = lambda h: [{k: v for k, v in e.items() if k != "seconds"} for e in h]  # noqa: E731
    assert strip(a["history"]) == strip(b["history"])
    assert a["steps"] == 2 * 3 and len(a["history"]) == 2


def test_finetune_config_errors():
    with pytest.raises(ValueError, match="batch_size"):
        FinetuneConfig(batch_size=0)
    with pytest.raises(ValueError, match="lr"):
        FinetuneConfig(lr=-1.0)


# -------------------------------------------------------------------------------------------------
# CLI and summary
# -------------------------------------------------------------------------------------------------
def test_cli_end_to_end(tmp_path, monkeypatch, capsys):
    import knas.text.model as tmodel
    from knas.cli.text import add_cli

    monkeypatch.setattr(tmodel, "DEFAULT_TINY", SMALL)  # hidden 16 for speed
    parser = argparse.ArgumentParser(prog="knas")
    sub = parser.add_subparsers(dest="command", required=True)
    add_cli(sub)

    def call(*argv):
        args = parser.parse_args([str(a) for a in argv])
        assert args.func(args) == 0

    d = tmp_path / "data"
    call("text-data", "--task", "smoke", "--out", d, "--n-train", 24, "--n-dev", 8)
    common = ["--task", "smoke", "--data-dir", d, "--model", "tiny", "--max-length", MAXLEN, "--device", "cpu"]
    call("text-score", *common, "--n", 6, "--out", tmp_path / "scores.csv")
    from knas.utils import read_table

    scores = read_table(tmp_path / "scores.csv")
    assert len(scores) == 31 and set(scores["task"]) == {"smoke"}
    runs = []
    for cand in (["--rank", 1, "--scores", tmp_path / "scores.csv"], ["--candidate", "identity"]):
        out = tmp_path / f"run{len(runs)}.json"
        call("text-finetune", *common, *cand, "--seed", 1, "--epochs", 1, "--lr", 1e-3, "--out", out)
        runs.append(out)
    r0 = json.loads(runs[0].read_text())
    assert r0["candidate"] == scores.loc[scores["rank"] == 1, "candidate"].item() and r0["mgm_rank"] == 1
    assert r0["smoke"] is True and r0["seed"] == 1 and r0["n_train"] == 24 and r0["n_dev"] == 8
    call("text-summary", *runs, "--scores", tmp_path / "scores.csv", "--out", tmp_path / "summary.csv")
    summ = read_table(tmp_path / "summary.csv")
    assert list(summ["candidate"]) == ["identity", r0["candidate"]]
    assert "smoke configuration" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parser.parse_args(["text-score", "--task", "sst2", "--out", "x.csv"])  # argparse: invalid choice
    with pytest.raises(ValueError, match="exactly one of --candidate"):
        args = parser.parse_args(["text-finetune", *map(str, common), "--out", str(tmp_path / "x.json")])
        args.func(args)


def test_summarize():
    runs = [
        {"task": "mrpc", "model": "m", "candidate": c, "seed": s, "dev_accuracy": a}
        for c, s, a in [("identity", 0, 0.80), ("identity", 1, 0.82), ("densenet-L3", 0, 0.85), ("densenet-L3", 1, 0.87)]
    ]
    t = summarize(runs)
    row = t.set_index("candidate").loc["densenet-L3"]
    assert row["dev_acc_mean_pct"] == pytest.approx(86.0)
    assert row["dev_acc_std_pct"] == pytest.approx(2 ** 0.5)  # sample std of 85, 87
    assert row["delta_vs_baseline_pct"] == pytest.approx(5.0)
    assert t["candidate"].iloc[0] == "identity" and not t["smoke"].any()
    with pytest.raises(ValueError, match="mix several tasks"):
        summarize(runs + [{**runs[0], "task": "rte", "seed": 9}])
    with pytest.raises(ValueError, match="duplicate"):
        summarize(runs + [runs[0]])
