"""Tests for bf16 and int8 inference (tranx.nn.precision): the choice and its errors, the reduced-precision LSTM cells
against nn.LSTMCell, int8 BERT states against fp32, reduced-precision translators decoding parseable code, and their
refusing to train, to go back to fp32 or to be saved."""

from __future__ import annotations

import ast

import pytest
import torch

import tranx.nn.precision as precision
from tranx.errors import TranxError

from model_fixtures import conala_examples, make_model, trained_translator

needs_bf16 = pytest.mark.skipif(not precision.native_bf16(), reason="this CPU has no native bfloat16")
needs_int8 = pytest.mark.skipif(precision.int8_engine() is None, reason="no fbgemm/x86 int8 kernels here")


def test_unknown_precision_names_the_choices():
    with pytest.raises(TranxError, match="precision must be one of fp32, bf16, int8, not 'fp16'"):
        precision.check_precision("fp16")


def test_bf16_without_native_support_is_refused(monkeypatch):
    monkeypatch.setattr(precision, "native_bf16", lambda: False)
    assert precision.check_precision("fp32") == "fp32"
    with pytest.raises(TranxError, match="native bfloat16"):
        precision.check_precision("bf16")
    with pytest.raises(TranxError, match="native bfloat16"):
        trained_translator().set_precision("bf16")


def test_int8_without_kernels_is_refused(monkeypatch):
    monkeypatch.setattr(precision, "int8_engine", lambda: None)
    with pytest.raises(TranxError, match="fbgemm/x86 quantized kernels"):
        precision.check_precision("int8")


@pytest.mark.parametrize("reduced", [pytest.param("bf16", marks=needs_bf16), pytest.param("int8", marks=needs_int8)])
def test_reduced_cell_follows_the_fp32_lstm_cell_and_keeps_its_weights(reduced):
    decoder = make_model().decoder
    torch.manual_seed(0)
    x = torch.randn(5, decoder.cell.input_size)
    h, c = torch.randn(5, decoder.cell.hidden_size), torch.randn(5, decoder.cell.hidden_size)
    before = {k: v.clone() for k, v in decoder.state_dict().items()}
    with torch.no_grad():
        h32, c32 = decoder._cell(x, h, c)
        decoder.set_precision(reduced)
        low_h, low_c = decoder._cell(x, h, c)
    assert torch.allclose(low_h, h32, atol=3e-2) and torch.allclose(low_c, c32, atol=3e-2)
    assert not torch.equal(low_h, h32)  # the reduced path did run
    assert low_h.dtype == low_c.dtype == torch.float32
    assert decoder.state_dict().keys() == before.keys()  # the low-precision copy is not part of the checkpoint
    assert all(torch.equal(decoder.state_dict()[k], v) for k, v in before.items())
    decoder.set_precision("fp32")  # the fp32 weights were kept: back to the exact cell
    with torch.no_grad():
        assert torch.equal(decoder._cell(x, h, c)[0], h32)


@needs_int8
def test_int8_bert_states_follow_fp32():
    translator = trained_translator()
    model = make_model(seed=1)
    model.load_state_dict(translator.model.state_dict())
    intents = [e.intent for e in conala_examples()[:4]]
    with torch.no_grad():
        fp32 = model.encoder.encode(intents)
        model.encoder.set_precision("int8")
        int8 = model.encoder.encode(intents)
    mask = fp32.word_mask
    assert torch.equal(int8.word_mask, mask)
    similarity = torch.cosine_similarity(int8.word_states[mask], fp32.word_states[mask], dim=-1)
    assert similarity.min() > 0.98
    assert not torch.equal(int8.word_states, fp32.word_states)


@pytest.mark.parametrize("reduced", [pytest.param("bf16", marks=needs_bf16), pytest.param("int8", marks=needs_int8)])
def test_reduced_precision_translator_decodes_and_refuses_training_and_saving(reduced, tmp_path):
    from tranx.translator import Translator
    shared = trained_translator()
    model = make_model(seed=1)
    model.load_state_dict(shared.model.state_dict())
    fp32 = Translator(shared.config, model)
    intents = [e.intent for e in conala_examples()[:6]]
    before = fp32.translate(intents, beam_size=3)
    fast = fp32.set_precision(reduced)
    after = fast.translate(intents, beam_size=3)
    assert len(after) == len(before) == 6
    for old, new in zip(before, after):
        ast.parse(new[0].code)
        assert new[0].score == pytest.approx(old[0].score, abs=0.1)
    with pytest.raises(TranxError, match="inference only"):
        model.train()
    with pytest.raises(TranxError, match="inference only"):
        model.decoder.train()
    with pytest.raises(TranxError, match="load the checkpoint again"):
        fast.set_precision("fp32")
    with pytest.raises(TranxError, match=f"runs in {reduced}: save the checkpoint it was loaded from"):
        fast.save_pretrained(tmp_path / "saved")
    assert not (tmp_path / "saved").exists()
