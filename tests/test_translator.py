"""Tests for tranx.translator: raw intent in, parseable code out; checkpoints as folders; bad input.

A tiny model trained briefly on 40 CoNaLa examples (tests/model_fixtures.py) so that beams hold varied code.
"""

from __future__ import annotations

import ast
import copy
import json
import shutil

import pytest

from model_fixtures import conala_examples, make_model, trained_translator
from tranx.config import Config
from tranx.errors import TranxError
from tranx.languages import get_language
from tranx.translator import CheckpointError, Translator
from tranx.data.vocab import Vocab

INTENTS = [
    "sort list `my_list` by key 'name'",
    "convert a list of integers into a single integer",
    "zip two lists `[1, 2]` and `[3, 4]` into a list of tuples",
    "find all occurrences of the pattern '\\d+' within `text`",
    "get the average of the values of dictionary `d`",
    "concatenate the strings 'a' and 'b'",
]


@pytest.fixture(scope="module")
def translator() -> Translator:
    return trained_translator()


@pytest.fixture(scope="module")
def saved(translator, tmp_path_factory):
    folder = tmp_path_factory.mktemp("checkpoints") / "tiny"
    translator.save_pretrained(folder)
    return folder


def test_an_empty_program_is_the_last_resort(translator, monkeypatch):
    from types import SimpleNamespace
    codes = {"a": "", "b": "x = 1", "c": "", "d": "y = 2"}
    results = [SimpleNamespace(hypothesis=SimpleNamespace(tree=lambda k=k: k), score=-i, log_prob=-2 * i)
               for i, k in enumerate("abcd")]
    monkeypatch.setattr(translator, "to_code", lambda tree, slots: codes[tree])
    assert [(c.code, c.score) for c in translator._candidates(results, None, "i", 3)] == [
        ("x = 1", -1), ("y = 2", -3), ("", 0)]
    assert [c.code for c in translator._candidates(results, None, "i", 1)] == ["x = 1"]
    assert [c.code for c in translator._candidates(results[:1], None, "i", 2)] == [""]  # nothing better
    assert [c.log_prob for c in translator._candidates(results, None, "i", 2)] == [-2, -6]  # the whole program's


def test_coverage_rerank_reorders_the_whole_beam_then_cuts(translator):
    from tranx.decoding.rerank import intent_mentions, mention_coverage
    for intent in INTENTS:
        every = translator.translate(intent, beam_size=6, n_best=6, rerank="none")
        reranked = translator.translate(intent, beam_size=6, n_best=6, rerank="coverage")
        assert sorted(c.code for c in reranked) == sorted(c.code for c in every)
        mentions = intent_mentions(intent)
        expected = sorted(every, key=lambda c: -mention_coverage(c.code, mentions))
        assert [c.code for c in reranked] == [c.code for c in expected]
        # the top-1 comes from the whole beam, not from the model's top-1 alone
        top = translator.translate(intent, beam_size=6, n_best=1, rerank="coverage")
        assert [c.code for c in top] == [c.code for c in expected[:1]]
    assert sum(len(translator.translate(i, beam_size=6, n_best=6)) for i in INTENTS) > len(INTENTS)
    with pytest.raises(TranxError, match="unknown reranker"):
        translator.translate(INTENTS[0], rerank="best")
    with pytest.raises(TranxError, match="rerank 'equivalence' needs `same`"):
        translator.translate(INTENTS[0], rerank="equivalence")


def test_every_n_best_candidate_parses(translator):
    intents = INTENTS + [e.intent for e in conala_examples()[:6]]
    outputs = translator.translate(intents, beam_size=6, n_best=6)
    assert isinstance(outputs, list) and len(outputs) == len(intents)
    codes = []
    for candidates in outputs:
        assert len(candidates) <= 6
        scores = [c.score for c in candidates if c.code.strip()]
        assert scores == sorted(scores, reverse=True)
        assert all(c.code.strip() for c in candidates[:len(scores)])  # an empty program only after the others
        assert len({c.code for c in candidates}) == len(candidates)  # duplicates are merged
        for c in candidates:
            ast.parse(c.code)
            assert "var_" not in c.code and "str_" not in c.code  # slots restored
            codes.append(c.code)
    assert sum(1 for c in codes if c.strip()) >= len(intents)  # real programs, not only the empty one
    assert max(len(c) for c in outputs) > 1
    single = translator.translate(INTENTS[0], beam_size=6)
    assert isinstance(single, list) and len(single) == 1  # default n_best=1
    assert single[0].code == outputs[0][0].code and single[0].score == pytest.approx(outputs[0][0].score, abs=1e-5)


def test_substitution_switch(translator):
    intent = "sort list `my_list` by key 'first name'"
    words_on, slots_on = translator.prepare(intent)
    assert "var_0" in words_on and "str_0" in words_on and "my_list" not in words_on and "first" not in words_on
    assert set(slots_on.values()) == {"my_list", "first name"}
    off_config = copy.deepcopy(translator.config)
    off_config.train.substitution = False
    off = Translator(off_config, translator.model)
    words_off, slots_off = off.prepare(intent)
    assert "my_list" in words_off and "first" in words_off
    assert not any(w.startswith(("var_", "str_")) for w in words_off)
    assert len(slots_off) == 0
    assert words_on != words_off
    # the model sees different words, so it scores differently
    on_best = translator.translate(intent, beam_size=3)[0]
    off_best = off.translate(intent, beam_size=3)[0]
    assert on_best.score != pytest.approx(off_best.score, abs=1e-6)


def test_save_and_load_give_identical_candidates(translator, saved):
    loaded = Translator.from_pretrained(saved)
    assert loaded.config.to_json() == translator.config.to_json()
    assert not loaded.model.training
    before = translator.translate(INTENTS, beam_size=4, n_best=4)
    after = loaded.translate(INTENTS, beam_size=4, n_best=4)
    assert [[c.code for c in cs] for cs in before] == [[c.code for c in cs] for cs in after]
    for cs, ds in zip(before, after):
        assert [c.score for c in cs] == pytest.approx([d.score for d in ds], abs=1e-6)
    # a training run folder (best/ and last/ inside, as `tranx train` leaves it) loads its best/ checkpoint
    run = saved.parent / "run"
    shutil.copytree(saved, run / "best")
    (run / "last").mkdir()
    from_run = Translator.from_pretrained(run)
    assert [c.code for c in from_run.translate(INTENTS[0], beam_size=4, n_best=4)] == [c.code for c in before[0]]
    (run / "best").rename(run / "old")
    with pytest.raises(CheckpointError, match="run without a best/ checkpoint yet"):
        Translator.from_pretrained(run)
    saved_twice = saved.parent / "again"
    loaded.save_pretrained(saved_twice)  # and the reloaded one saves the same folder
    assert (saved_twice / "model.safetensors").read_bytes() == (saved / "model.safetensors").read_bytes()


def _corrupt(path, data: bytes | str) -> None:
    path.write_bytes(data.encode() if isinstance(data, str) else data)


CORRUPTIONS = {
    "missing config.json": lambda f: (f / "config.json").unlink(),
    "missing weights": lambda f: (f / "model.safetensors").unlink(),
    "missing encoder": lambda f: shutil.rmtree(f / "encoder"),
    "config.json not JSON": lambda f: _corrupt(f / "config.json", "{not json"),
    "config.json not UTF-8": lambda f: _corrupt(f / "config.json", b"\xff\xfe\x00"),
    "config.json of another format": lambda f: _corrupt(f / "config.json", json.dumps({"format": "x"})),
    "config.json of a future version": lambda f: _corrupt(
        f / "config.json", json.dumps({**json.loads((f / "config.json").read_text()), "format_version": 99})),
    "weights truncated": lambda f: _corrupt(f / "model.safetensors", (f / "model.safetensors").read_bytes()[:100]),
    "encoder weights garbage": lambda f: _corrupt(f / "encoder" / "model.safetensors", b"garbage"),
    "vocabulary of the wrong size": lambda f: _corrupt(f / "vocab" / "primitive.json", json.dumps(
        {"format": "tranx-vocab", "version": 1, "name": "primitive", "specials": ["<pad>", "<unk>"],
         "tokens": ["a"], "meta": {}})),
    "vocabulary not JSON": lambda f: _corrupt(f / "vocab" / "primitive.json", "{garbage"),
    "grammar garbage": lambda f: _corrupt(f / "grammar.asdl", "module X { a = ( }"),
    "encoder config not JSON": lambda f: _corrupt(f / "encoder" / "config.json", "{"),
    "unknown config key": lambda f: _corrupt(f / "config.json", json.dumps(
        {"format": "tranx-translator", "format_version": 1, "config": {"model": {"zzz": 1}}})),
}
CASES = [pytest.param(fn, id=name) for name, fn in CORRUPTIONS.items()]


@pytest.mark.parametrize("corrupt", CASES)
def test_broken_checkpoint_raises_checkpoint_error(saved, tmp_path, corrupt):
    folder = tmp_path / "broken-checkpoint-folder"
    shutil.copytree(saved, folder)
    corrupt(folder)
    with pytest.raises(CheckpointError, match="broken-checkpoint-folder"):
        Translator.from_pretrained(folder)


def test_missing_folder_raises_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="no-such-run"):
        Translator.from_pretrained(tmp_path / "no-such-run")
    (tmp_path / "empty-run").mkdir()
    with pytest.raises(CheckpointError, match="empty-run"):
        Translator.from_pretrained(tmp_path / "empty-run")


@pytest.mark.parametrize("intent", ["", "   ", " \n\t "])
def test_empty_intent(translator, intent):
    with pytest.raises(TranxError, match="intent is empty"):
        translator.translate(intent)
    with pytest.raises(TranxError, match="intent is empty"):
        translator.translate(["sort a list", intent])


def test_bytes_intent(translator):
    with pytest.raises(TranxError, match="UTF-8"):
        translator.translate(b"sort the list \xff\xfe")
    assert translator.translate("sort the list `x`".encode("utf-8")) == translator.translate("sort the list `x`")


def test_bad_arguments(translator):
    with pytest.raises(TranxError):
        translator.translate("sort a list", beam_size=0)
    with pytest.raises(TranxError, match="str"):
        translator.translate([None])
    with pytest.raises(TranxError, match="a str or a list of str, not NoneType"):
        translator.translate(None)


@pytest.mark.parametrize("intent", [
    ("sort the list `x` by the key 'name' and print every item " * 200)[:10_000],  # 10,000 characters of words
    "x" * 10_000,  # one 10,000-character word
])
def test_very_long_intent(translator, intent):
    assert len(intent) == 10_000
    out = translator.translate(intent, beam_size=2, n_best=2, max_steps=40)
    assert isinstance(out, list) and out  # cut to MAX_INTENT_CHARS and translated, not refused
    for c in out:
        ast.parse(c.code)


@pytest.mark.parametrize("intent", [
    "open the file 'data.txt",
    'print "hello',
    "call `foo with argument 'x'",
    "replace ' with \" in string `s`",
    "'",
])
def test_unbalanced_quotes(translator, intent):
    out = translator.translate(intent, beam_size=3, n_best=3)
    assert isinstance(out, list) and out
    for c in out:
        ast.parse(c.code)


def test_public_api_exports_translator():
    import tranx
    from tranx.translator import CheckpointError as Error, Translator as Cls
    assert tranx.Translator is Cls and tranx.CheckpointError is Error
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        tranx.Nope


def test_samples_parse_and_keep_their_count(translator):
    drawn = translator.sample(INTENTS, num_samples=5, seed=3)
    assert len(drawn) == len(INTENTS) and all(len(samples) == 5 for samples in drawn)
    for samples in drawn:
        for c in samples:
            if c.code:
                ast.parse(c.code)
                assert "var_" not in c.code and "str_" not in c.code
    assert len({c.code for samples in drawn for c in samples}) > len(INTENTS)  # the draws vary
    again = translator.sample(INTENTS, num_samples=5, seed=3)
    assert [[c.code for c in s] for s in again] == [[c.code for c in s] for s in drawn]  # seeded: repeatable


def test_sampling_among_the_single_best_action_is_greedy(translator):
    greedy = translator.translate(INTENTS, beam_size=1)
    drawn = translator.sample(INTENTS, num_samples=3, top_k=1, seed=0)
    for best, samples in zip(greedy, drawn):
        expected = best[0].code if best else ""
        assert [c.code for c in samples] == [expected] * 3


@pytest.mark.parametrize("kwargs", [{"num_samples": 0}, {"top_k": 0}, {"temperature": 0.0}])
def test_bad_sampling_arguments(translator, kwargs):
    with pytest.raises(TranxError, match="num_samples and top_k"):
        translator.sample(INTENTS[0], **kwargs)


def test_word_embeddings_are_saved_and_loaded(tmp_path):
    model = make_model(seed=2, word_embed_size=8)
    config = Config(model=model.config)
    config.train.max_decode_steps = 40
    translator = Translator(config, model)
    translator.save_pretrained(tmp_path / "words")
    assert Vocab.load(tmp_path / "words" / "vocab" / "words.json") == model.words
    loaded = Translator.from_pretrained(tmp_path / "words")
    before = translator.translate(INTENTS[:3], beam_size=3, n_best=3)
    after = loaded.translate(INTENTS[:3], beam_size=3, n_best=3)
    assert [[(c.code, round(c.score, 5)) for c in cs] for cs in before] == \
        [[(c.code, round(c.score, 5)) for c in cs] for cs in after]
    (tmp_path / "words" / "vocab" / "words.json").unlink()
    with pytest.raises(CheckpointError, match="words.json is missing"):
        Translator.from_pretrained(tmp_path / "words")


def test_a_candidate_the_compiler_rejects_is_dropped(translator):
    python = get_language("python")
    _, slots = translator.prepare("define f")
    assert translator.to_code(python.parse("def f(a, b):\n    pass"), slots) == "def f(a, b):\n    pass"
    assert translator.to_code(python.parse("def f(a, a):\n    pass"), slots) is None
    assert translator.to_code(python.parse("f(x=1, x=2)"), slots) is None


def test_intents_are_sorted_by_pieces_only_when_they_span_batches():
    from tranx.translator import _by_length

    class Pieces:  # an encoder whose piece count is the word count, counting its calls
        calls = 0

        def lengths(self, items):
            self.calls += 1
            return [len(words) for words in items]
    prepared = [(["w"] * n, {}, "") for n in (2, 5, 3)]
    encoder = Pieces()
    assert _by_length(prepared, encoder, 3) == [0, 1, 2] and encoder.calls == 0
    assert _by_length(prepared, encoder, 2) == [1, 2, 0] and encoder.calls == 1
