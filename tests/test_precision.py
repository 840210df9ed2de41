"""Tests for bf16 inference (tranx.nn.precision): the choice and its errors, the bf16 LSTM cell against
nn.LSTMCell, a bf16 translator decoding parseable code, and bf16 refusing to train or to go back to fp32."""

from __future__ import annotations

import ast

import pytest
import torch

import tranx.nn.precision as precision
from tranx.errors import TranxError

from model_fixtures import conala_examples, make_model, trained_translator

needs_bf16 = pytest.mark.skipif(not precision.native_bf16(), reason="this CPU has no native bfloat16")


def test_unknown_precision_names_the_choices():
    with pytest.raises(TranxError, match="precision must be one of fp32, bf16, not 'fp16'"):
        precision.check_precision("fp16")


def test_bf16_without_native_support_is_refused(monkeypatch):
    monkeypatch.setattr(precision, "native_bf16", lambda: False)
    assert precision.check_precision("fp32") == "fp32"
    with pytest.raises(TranxError, match="native bfloat16"):
        precision.check_precision("bf16")
    with pytest.raises(TranxError, match="native bfloat16"):
        trained_translator().set_precision("bf16")


@needs_bf16
def test_bf16_cell_follows_the_fp32_lstm_cell():
    decoder = make_model().decoder
    torch.manual_seed(0)
    x = torch.randn(5, decoder.cell.input_size)
    h, c = torch.randn(5, decoder.cell.hidden_size), torch.randn(5, decoder.cell.hidden_size)
    with torch.no_grad():
        h32, c32 = decoder._cell(x, h, c)
        decoder.set_precision("bf16")
        h16, c16 = decoder._cell(x, h, c)
        assert torch.allclose(h16, h32, atol=3e-2) and torch.allclose(c16, c32, atol=3e-2)
        assert not torch.equal(h16, h32)  # the bf16 path did run
        assert h16.dtype == torch.float32
        decoder.set_precision("fp32")  # the fp32 weights were kept: back to the exact cell
        assert torch.equal(decoder._cell(x, h, c)[0], h32)


@needs_bf16
def test_bf16_translator_decodes_and_refuses_training():
    from tranx.translator import Translator
    shared = trained_translator()
    model = make_model(seed=1)
    model.load_state_dict(shared.model.state_dict())
    fp32 = Translator(shared.config, model)
    intents = [e.intent for e in conala_examples()[:6]]
    before = fp32.translate(intents, beam_size=3)
    bf16 = fp32.set_precision("bf16")
    after = bf16.translate(intents, beam_size=3)
    for old, new in zip(before, after):
        ast.parse(new[0].code)
        assert new[0].score == pytest.approx(old[0].score, abs=0.1)
    with pytest.raises(TranxError, match="inference only"):
        model.train()
    with pytest.raises(TranxError, match="inference only"):
        model.decoder.train()
    with pytest.raises(TranxError, match="load the checkpoint again"):
        bf16.set_precision("fp32")
