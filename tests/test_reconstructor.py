"""The reconstructor p(intent | code) and reranking n-best lists with it (`tranx reconstructor`, `tranx rerank`)."""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass

import pytest
import torch

from preprocess.datasets import DataRootError, resolve_data_root
from tranx.cli import main
from tranx.data.vocab import PAD, UNK, Vocab
from tranx.errors import CheckpointError, TranxError
from tranx.decoding.reconstruction_rerank import reconstruction_scores, reranked_rows
from tranx.nn.reconstructor import BOS, EOS, Reconstructor, reconstruction_tokens
from tranx.training.reconstruct import train_reconstructor


def tiny(seed: int = 0, code=("x", "y", "+", "*", "len"), intent=("add", "x", "and", "y", "length")) -> Reconstructor:
    torch.manual_seed(seed)
    model = Reconstructor(Vocab(code, name="code"), Vocab(intent, specials=(PAD, UNK, BOS, EOS), name="intent"),
                          embed_size=6, hidden_size=8, dropout=0.0)
    return model.eval()


def reference_log_probs(model: Reconstructor, code: list[str], intent: list[str]) -> list[float]:
    """The pointer-generator mix written out for one pair, word by word, with plain Python sums."""
    with torch.no_grad():
        memory, _ = model.encoder(model.code_embed(torch.tensor([model.code_vocab.encode(code)])))
        words = [BOS, *intent]
        states, _ = model.decoder(model.intent_embed(torch.tensor([model.intent_vocab.encode(words)])))
        out = []
        for t, gold in enumerate([*intent, EOS]):
            h = states[0, t]
            scores = [float(h @ model.attend(memory[0, j])) for j in range(len(code))]
            top = max(scores)
            weights = [math.exp(s - top) for s in scores]
            attention = [w / sum(weights) for w in weights]
            context = sum(a * memory[0, j] for j, a in enumerate(attention))
            feature = torch.tanh(model.combine(torch.cat([h, context])))
            p_gen = model.readout(feature).softmax(-1)
            g = float(torch.sigmoid(model.copy_gate(feature)))
            copy = sum(a for a, token in zip(attention, code) if token == gold)
            known = gold in model.intent_vocab
            generated = float(p_gen[model.intent_vocab.id(gold)]) if known or not copy else 0.0
            out.append(math.log(g * copy + (1 - g) * generated))
        return out


def test_token_log_probs_equal_the_mixture_written_out():
    model = tiny()
    code, intent = ["x", "+", "y", "foo"], ["add", "x", "and", "foo", "bar"]  # foo: unknown, copyable; bar: neither
    batch = model.batch([code], [intent])
    got = model.token_log_probs(batch)[0].tolist()
    assert got == pytest.approx(reference_log_probs(model, code, intent), abs=1e-5)


def test_a_batch_scores_each_pair_as_alone():
    model = tiny(1)
    pairs = [("x + y", "add x and y"), ("len ( x )", "length of x"), ("y", "y"), ("", "add")]
    together = model.log_likelihood([c for c, _ in pairs], [i for _, i in pairs], batch_size=4)
    alone = [model.log_likelihood([c], [i])[0] for c, i in pairs]
    assert together == pytest.approx(alone, abs=1e-5)
    assert all(v < 0 for v in together)


def test_tokens_are_the_official_ones_lowercased():
    assert reconstruction_tokens("df.sortValues(by='A')") == ["df", ".", "sort", "values", "(", "by", "=", "`", "a",
                                                              "`", ")"]


def test_save_and_load_give_the_same_scores(tmp_path):
    model = tiny(2)
    model.save_pretrained(tmp_path / "r", {"dataset": "toy"})
    loaded = Reconstructor.from_pretrained(tmp_path / "r")
    assert loaded.trained == {"dataset": "toy"}
    args = (["x * y", "len(x)"], ["add x and y", "length of x"])
    assert loaded.log_likelihood(*args) == pytest.approx(model.log_likelihood(*args), abs=1e-6)
    (tmp_path / "r" / "vocab" / "code.json").unlink()
    with pytest.raises(CheckpointError, match="vocab/code.json is missing"):
        Reconstructor.from_pretrained(tmp_path / "r")


@dataclass
class Pair:
    intent: str
    code: str


def toy_pairs(names):
    pairs = []
    for a in names:
        for b in names:
            if a != b:
                pairs += [Pair(f"add {a} and {b}", f"{a} + {b}"), Pair(f"multiply {a} by {b}", f"{a} * {b}"),
                          Pair(f"length of {a}", f"len({a})")]
    return pairs


def test_training_learns_which_program_explains_an_intent(tmp_path):
    train = toy_pairs(["a", "b", "c", "d", "e"])
    dev = toy_pairs(["p", "q"])  # names never seen in training: only copying can name them
    summary = train_reconstructor(train, dev, tmp_path / "run", epochs=12, batch_size=8, progress=False,
                                  sizes={"embed_size": 16, "hidden_size": 32, "dropout": 0.0})
    model = Reconstructor.from_pretrained(tmp_path / "run" / "best")
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    dev_nll = [r["nll_per_token"] for r in rows if r["type"] == "dev"]
    assert summary["best_dev_nll_per_token"] == min(dev_nll) < dev_nll[0]
    right, wrong_op, wrong_name = model.log_likelihood(["p + q", "p * q", "p + r"], ["add p and q"] * 3)
    assert right > wrong_op and right > wrong_name
    with pytest.raises(TranxError, match="needs training and dev pairs"):
        train_reconstructor(train, [], tmp_path / "none")


def test_a_resumed_run_ends_as_one_never_stopped(tmp_path):
    from safetensors.torch import load_file
    train, dev = toy_pairs(["a", "b", "c"]), toy_pairs(["p", "q"])
    options = {"batch_size": 4, "patience": 10, "progress": False,
               "sizes": {"embed_size": 8, "hidden_size": 8, "dropout": 0.2}}  # dropout: the RNG must be restored
    train_reconstructor(train, dev, tmp_path / "straight", epochs=3, **options)
    train_reconstructor(train, dev, tmp_path / "stopped", epochs=1, **options)
    summary = train_reconstructor(train, dev, tmp_path / "stopped", epochs=3, resume=True, **options)
    assert summary["epochs"] == 3
    for name in ("best/model.safetensors", "last/model.safetensors"):
        a, b = load_file(tmp_path / "straight" / name), load_file(tmp_path / "stopped" / name)
        assert all(torch.equal(a[k], b[k]) for k in a)
    rows = [(tmp_path / run / "metrics.jsonl").read_text().splitlines() for run in ("straight", "stopped")]
    assert [json.loads(r)["nll_per_token"] for r in rows[0]] == [json.loads(r)["nll_per_token"] for r in rows[1]]
    with pytest.raises(TranxError, match="other data or settings"):
        train_reconstructor(train[:-3], dev, tmp_path / "stopped", epochs=4, resume=True, **options)
    with pytest.raises(TranxError, match="no last/ state"):
        train_reconstructor(train, dev, tmp_path / "new", resume=True, **options)


def test_reranking_adds_the_weighted_reconstruction():
    rows = [{"id": "a", "intent": "add `x` and `y`", "prediction": "x * y", "predictions": ["x * y", "x + y", "x"],
             "scores": [-0.1, -0.3, -0.2]}]
    recon = [[-2.0, -1.0, -0.5]]
    assert reranked_rows(rows, recon, 0.0)[0]["predictions"] == ["x * y", "x", "x + y"]
    # -0.1 - 0.2 * 2 = -0.5; -0.3 - 0.2 = -0.5 (a tie keeps the model's order); -0.2 - 0.1 = -0.3
    out = reranked_rows(rows, recon, 0.2)[0]
    assert out["predictions"] == ["x", "x * y", "x + y"] and out["prediction"] == "x"
    assert out["scores"] == [-0.3, -0.5, -0.5] and out["model_scores"] == [-0.2, -0.1, -0.3]
    assert reranked_rows(rows, recon, 0.2, coverage=True)[0]["predictions"] == ["x * y", "x + y", "x"]
    empty_first = [{**rows[0], "predictions": ["", "x + y"], "scores": [0.0, -1.0]}]
    assert reranked_rows(empty_first, [[5.0, -9.0]], 1.0)[0]["predictions"] == ["x + y", ""]
    with pytest.raises(TranxError, match="3 predictions but 2 scores"):
        reranked_rows([{**rows[0], "scores": [-0.1, -0.2]}], recon, 1.0)
    with pytest.raises(TranxError, match="needs the intent and the n-best"):
        reconstruction_scores([{"id": "b", "prediction": "x"}], tiny())


def _conala_dev_rows(n: int):
    try:
        resolve_data_root(None, "conala")
    except DataRootError as exc:
        pytest.skip(str(exc))
    from tranx.data.pipeline import DEV_SEED, split_examples
    return split_examples("conala", None, seed=DEV_SEED, splits=["dev"])["dev"][:n]


def test_rerank_command_reorders_and_scores(tmp_path, capsys):
    examples = _conala_dev_rows(3)
    tiny(3).save_pretrained(tmp_path / "recon")
    rows = [{"id": e.id, "intent": e.intent, "prediction": "pass", "predictions": ["pass", e.code],
             "scores": [0.0, -1e-6]} for e in examples]
    (tmp_path / "p.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "r.jsonl"
    args = ["rerank", str(tmp_path / "p.jsonl"), "--reconstructor", str(tmp_path / "recon"), "--dataset", "conala",
            "--split", "dev", "--out", str(out)]
    assert main([*args, "--weight", "0"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["exact_match"] == 0.0
    # a large weight lets the reconstructor alone decide between the two candidates
    assert main([*args, "--weight", "1e6"]) == 0
    printed = capsys.readouterr().out
    reranked = [json.loads(line) for line in out.read_text().splitlines()]
    recon = reconstruction_scores(rows, tiny(3))
    assert [r["prediction"] for r in reranked] == [r["predictions"][max(range(2), key=lambda i: s[i])]
                                                  for r, s in zip(rows, recon)]
    changed = sum(r["prediction"] != "pass" for r in reranked)
    assert f"the first candidate changed for {changed}" in printed
    assert main([*args, "--weight", "1e6", "--n-best", "1"]) == 0
    capsys.readouterr()
    kept = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["predictions"] for r in kept] == [[r["prediction"]] for r in reranked]
    assert all(len(r["model_scores"]) == len(r["reconstruction"]) == 1 for r in kept)
    assert main([*args, "--weight", "-1"]) == 2 and "--weight must be at least 0" in capsys.readouterr().err
    (tmp_path / "bad.jsonl").write_text("{oops\n")
    args[1] = str(tmp_path / "bad.jsonl")
    assert main([*args, "--weight", "1"]) == 2 and "bad.jsonl:1: not JSON" in capsys.readouterr().err


def test_a_translator_with_a_reconstructor_reorders_its_whole_beam():
    from model_fixtures import trained_translator
    from tranx.decoding.reconstruction_rerank import per_token_scores
    shared = trained_translator()
    recon = tiny(4, code=("(", ")", "sorted", "my_list", "sum", "."), intent=("sort", "list", "my_list", "by"))
    ranked = copy.copy(shared).with_reconstructor(recon, 20.0)  # large: it must reorder
    plain = copy.copy(shared).with_reconstructor(recon, 0.0)
    intents = ["sort list `my_list` by key 'name'", "get the average of the values of dictionary `d`"]
    changed = 0
    for intent, batched in zip(intents, ranked.translate(intents, beam_size=6, n_best=6)):
        every = shared.translate(intent, beam_size=6, n_best=6, rerank="none")
        recon_scores = per_token_scores(recon, [[c.code for c in every]], [intent])[0]
        combined = [c.score + 20.0 * r for c, r in zip(every, recon_scores)]
        expected = sorted(range(len(every)), key=lambda i: (not every[i].code.strip(), -combined[i]))
        got = ranked.translate(intent, beam_size=6, n_best=6)
        assert [c.code for c in got] == [every[i].code for i in expected] == [c.code for c in batched]
        assert [c.score for c in got] == pytest.approx([combined[i] for i in expected])
        assert [c.code for c in ranked.translate(intent, beam_size=6, n_best=1)] == [every[expected[0]].code]
        assert [c.code for c in plain.translate(intent, beam_size=6, n_best=6)] == [c.code for c in every]
        changed += expected != sorted(expected)
    assert changed  # the weight changed some order, or the test would not tell
    with pytest.raises(TranxError, match="does not go with a reconstructor"):
        ranked.translate(intents[0], rerank="equivalence", same=lambda a, b: a == b)
    with pytest.raises(TranxError, match="must be at least 0"):
        copy.copy(shared).with_reconstructor(recon, -1)


def test_cli_reconstructor_flags(tmp_path, capsys):
    from model_fixtures import trained_translator
    trained_translator().save_pretrained(tmp_path / "model")
    tiny(5).save_pretrained(tmp_path / "recon")
    base = ["translate", str(tmp_path / "model"), "sort list `x`", "--beam-size", "4", "--n-best", "2"]
    assert main([*base, "--reconstructor", str(tmp_path / "recon")]) == 2
    assert "--reconstructor and --reconstruction-weight go together" in capsys.readouterr().err
    assert main([*base, "--reconstructor", str(tmp_path / "nowhere"), "--reconstruction-weight", "1"]) == 2
    assert "config.json is missing" in capsys.readouterr().err
    assert main([*base, "--reconstructor", str(tmp_path / "recon"), "--reconstruction-weight", "1"]) == 0
    printed = capsys.readouterr().out
    expected = copy.copy(trained_translator()).with_reconstructor(tiny(5), 1.0).translate("sort list `x`", beam_size=4,
                                                                                        n_best=2)
    # one intent: "# k (score s)" then the candidate's code, in the reconstructor's order
    blocks = [block.split("\n", 1) for block in printed.strip().split("# ")[1:]]
    assert [(head, code.strip()) for head, code in blocks] == [(f"{k} (score {c.score:.4f})", c.code)
                                                               for k, c in enumerate(expected, 1)]
    assert main(["eval", str(tmp_path / "model"), "--dataset", "conala", "--split", "dev", "--out", str(tmp_path / "p"),
                 "--samples", "2", "--reconstructor", str(tmp_path / "recon"), "--reconstruction-weight", "1"]) == 2
    assert "--reconstructor orders a beam's candidates" in capsys.readouterr().err
    assert main(["reconstructor", "--dataset", "conala", "--out", str(tmp_path / "r"), "--epochs", "0"]) == 2
    assert "--epochs, --patience and --batch-size must be at least 1" in capsys.readouterr().err
