"""Tests for tranx.model / tranx.decoder / tranx.data: the teacher-forced, grammar-masked loss.

Tiny random models (tests/model_fixtures.py) on the first CoNaLa training examples. What is checked: the loss trains;
masked scores give invalid actions exactly zero probability and valid ones a distribution; each model switch
(`grammar_mask_in_training`, `copy`, `parent_feeding`) changes the numbers it should; and the teacher-forced loss is
exactly the sum of the per-step scores `decode_step` gives along the oracle (training and search agree).
"""

from __future__ import annotations

import math

import pytest
import torch

from model_fixtures import (conala_examples, grammar_and_system, make_model, replay_log_probs, teacher_forced_scores,
                            tensor_examples, tiny_config, token_vocab, train)
from tranx.actions import GenToken, action_from_json
from tranx.data import collate, tensorize
from tranx.decoder import COPY, GEN, NEG, REDUCE
from tranx.languages import get_language
from tranx.model import TranxModel, build_encoder, step_log_probs


def valid_tables():
    """From the transition system (not the decoder's own tables): per field id, valid [constructors..., Reduce],
    whether Reduce is valid, and whether the field is primitive."""
    grammar, system = grammar_and_system()
    fields = (*grammar.fields, grammar.root_field)
    rules = torch.zeros(len(fields), len(grammar.constructors) + 1, dtype=torch.bool)
    reduce_ok = torch.zeros(len(fields), dtype=torch.bool)
    primitive = torch.zeros(len(fields), dtype=torch.bool)
    for f in fields:
        valid = system.valid_for_field(f)
        rules[f.id, list(valid.constructor_ids)] = True
        rules[f.id, -1] = valid.reduce
        reduce_ok[f.id] = valid.reduce
        primitive[f.id] = valid.token
    return rules, reduce_ok, primitive


@pytest.fixture(scope="module")
def batch():
    model = make_model()
    return collate(tensor_examples(model, conala_examples()[:8]))


def test_loss_is_finite_and_decreases():
    model = make_model()
    losses = train(model, conala_examples()[:16], steps=30, lr=5e-3)
    assert all(math.isfinite(x) for x in losses)
    assert losses[-1] < 0.6 * losses[0], losses
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5


def test_loss_shapes_and_padding(batch):
    model = make_model()
    nll, steps = model.loss(batch)
    lengths = [len(e.actions) for e in conala_examples()[:8]]
    assert nll.shape == steps.shape == (8,)
    assert steps.tolist() == lengths
    assert (nll > 0).all() and torch.isfinite(nll).all()
    # padding is inert: each example alone gets the loss it gets in the padded batch
    model_alone = [model.loss(collate(tensor_examples(model, [e])))[0].item() for e in conala_examples()[:8]]
    assert nll.tolist() == pytest.approx(model_alone, rel=1e-5)


def test_masked_scores_put_zero_mass_on_invalid_actions(batch):
    model = make_model()
    with torch.no_grad():
        scores, word_mask, _ = teacher_forced_scores(model, batch)
        # the mirror in model_fixtures is the real loss
        nll = -step_log_probs(scores, batch, word_mask.size(1)).masked_fill(~batch.step_mask, 0).sum(1)
        assert torch.allclose(nll, model.loss(batch)[0], rtol=1e-6)
    rules, reduce_ok, primitive = valid_tables()
    real = batch.step_mask
    field = batch.field[real]  # [S] real steps
    rule_p = scores.rule[real].exp()
    gate_p = scores.gate[real].exp()
    token_p = scores.token[real].exp()
    copy_p = scores.copy[real].exp()
    words = word_mask.unsqueeze(1).expand(-1, batch.field.size(1), -1)[real]  # [S, W]

    composite = ~primitive[field]
    valid = rules[field]
    assert composite.sum() > 20 and (~primitive[field]).sum() < len(field)
    # composite steps: other types' constructors (and Reduce on single fields) get exactly 0
    assert torch.equal(rule_p[composite][~valid[composite]], torch.zeros(int((~valid[composite]).sum())))
    assert (~valid[composite][:, -1]).any()  # some composite single fields: Reduce masked there
    assert torch.allclose(rule_p[composite].sum(-1), torch.ones(int(composite.sum())), atol=1e-5)
    assert (rule_p[composite][valid[composite]] > 0).all()

    prim = primitive[field]
    single = prim & ~reduce_ok[field]
    assert single.sum() > 5 and (prim & reduce_ok[field]).sum() > 0
    assert torch.equal(gate_p[single][:, REDUCE], torch.zeros(int(single.sum())))  # no Reduce on single fields
    assert (gate_p[prim & reduce_ok[field]][:, REDUCE] > 0).all()
    assert torch.equal(token_p[prim][:, 0], torch.zeros(int(prim.sum())))  # <pad> is never generated
    assert torch.equal(copy_p[prim][~words[prim]], torch.zeros(int((~words[prim]).sum())))  # nor padding copied
    total = (gate_p[:, GEN] * token_p.sum(-1) + gate_p[:, COPY] * (copy_p * words).sum(-1) + gate_p[:, REDUCE])
    assert torch.allclose(total[prim], torch.ones(int(prim.sum())), atol=1e-5)
    assert (scores.rule[real][composite][~valid[composite]] < NEG / 2).all()  # NEG-level log-probs


def test_unmasked_training_gives_invalid_actions_mass(batch):
    masked = make_model()
    unmasked = make_model(grammar_mask_in_training=False)
    for a, b in zip(masked.state_dict().values(), unmasked.state_dict().values()):
        assert torch.equal(a, b)  # same weights: only the switch differs
    rules, reduce_ok, primitive = valid_tables()
    with torch.no_grad():
        scores, _, _ = teacher_forced_scores(unmasked, batch)
        nll_masked = masked.loss(batch)[0]
        nll_unmasked = unmasked.loss(batch)[0]
    field = batch.field[batch.step_mask]
    composite = ~primitive[field]
    rule_p = scores.rule[batch.step_mask].exp()[composite]
    invalid = ~rules[field][composite]
    assert (rule_p[invalid] > 0).all()
    assert (rule_p[invalid].sum() / composite.sum()) > 0.5  # most mass of a random model is on invalid rules
    single = primitive[field] & ~reduce_ok[field]
    assert (scores.gate[batch.step_mask].exp()[single][:, REDUCE] > 0).all()
    # masking renormalises over fewer actions: every oracle sequence is more probable with it
    assert (nll_masked < nll_unmasked - 1.0).all()


@pytest.fixture(scope="module")
def copy_only_example():
    """`print(zzqx)` from "print zzqx now": zzqx is in no vocabulary, so it can only be copied."""
    _, system = grammar_and_system()
    actions = system.oracle(get_language("python").parse("print(zzqx)"))
    return ["print", "zzqx", "now"], actions


def test_copy_switch(copy_only_example):
    words, actions = copy_only_example
    with_copy, without_copy = make_model(), make_model(copy=False)
    assert "zzqx" not in with_copy.tokens
    _, system = grammar_and_system()
    step = [i for i, a in enumerate(actions) if a == GenToken("zzqx")][0]

    on = tensorize(words, actions, system, with_copy.ids, copy=True)
    off = tensorize(words, actions, system, without_copy.ids, copy=False)
    assert (on.token_target[step], on.copy_target[step]) == (-1, [1])  # copy only
    unk = with_copy.tokens.unk_id
    assert (off.token_target[step], off.copy_target[step]) == (unk, [])  # falls back to generating <unk>

    with torch.no_grad():
        s_on, _, _ = teacher_forced_scores(with_copy, collate([on]))
        s_off, _, _ = teacher_forced_scores(without_copy, collate([off]))
        lp_on = step_log_probs(s_on, collate([on]), len(words))[0]
        lp_off = step_log_probs(s_off, collate([off]), len(words))[0]
    assert torch.equal(s_off.gate[..., COPY].exp(), torch.zeros(1, len(actions)))  # no copy probability at all
    assert (s_on.gate[..., COPY].exp() > 0).all()
    assert lp_on[step].item() == pytest.approx(s_on.gate[0, step, COPY].item() + s_on.copy[0, step, 1].item(),
                                               abs=1e-5)
    assert lp_off[step].item() == pytest.approx(s_off.gate[0, step, GEN].item() + s_off.token[0, step, unk].item(),
                                                abs=1e-5)
    # the copy=False model scores the same sequence by <unk> generation: a different number
    assert abs(lp_on[step].item() - lp_off[step].item()) > 1e-3


def test_parent_feeding_switch(batch):
    fed, unfed = make_model(), make_model(parent_feeding=False)
    config = fed.config
    base = config.action_embed_size + config.att_size + config.field_embed_size
    assert fed.decoder.cell.input_size == base + config.hidden_size
    assert unfed.decoder.cell.input_size == base
    orphaned = collate(tensor_examples(fed, conala_examples()[:8]))
    orphaned.parent.fill_(-1)  # every step as if at the root: parent state zeros
    with torch.no_grad():
        assert not torch.allclose(fed.loss(batch)[0], fed.loss(orphaned)[0], atol=1e-3)
        assert torch.equal(unfed.loss(batch)[0], unfed.loss(orphaned)[0])
        # one step: the parent state is an input with parent feeding and ignored without
        memory, state = fed.encode([["sort", "a", "list"]])
        prev, field = torch.tensor([1]), torch.tensor([0])
        ones = torch.ones(1, config.hidden_size)
        a = fed.decoder.step(prev, field, ones, state, memory).h
        b = fed.decoder.step(prev, field, torch.zeros_like(ones), state, memory).h
        assert (a - b).abs().max() > 1e-4
        memory, state = unfed.encode([["sort", "a", "list"]])
        a = unfed.decoder.step(prev, field, ones, state, memory).h
        b = unfed.decoder.step(prev, field, torch.zeros_like(ones), state, memory).h
        assert torch.equal(a, b)


@pytest.mark.parametrize("overrides", [{}, {"copy": False}, {"parent_feeding": False}])
def test_teacher_forced_loss_equals_decode_step_scores(overrides):
    """The loss of a padded batch, per step, equals the log-probabilities decode_step gives one step at a time."""
    model = make_model(**overrides)
    train(model, conala_examples()[:16], steps=5, lr=1e-2)  # not a symmetric random init
    examples = conala_examples()[:6]
    grammar, _ = grammar_and_system()
    batch = collate(tensor_examples(model, examples))
    with torch.no_grad():
        scores, word_mask, _ = teacher_forced_scores(model, batch)
        per_step = step_log_probs(scores, batch, word_mask.size(1))
        nll = model.loss(batch)[0]
    for i, example in enumerate(examples):
        actions = [action_from_json(grammar, a) for a in example.actions]
        replayed = replay_log_probs(model, example.words, actions)
        assert per_step[i, :len(actions)].tolist() == pytest.approx(replayed, abs=2e-5)
        assert -nll[i].item() == pytest.approx(sum(replayed), abs=1e-3, rel=1e-5)


def test_tensorize_records_the_decoders_view(copy_only_example):
    words, actions = copy_only_example
    grammar, system = grammar_and_system()
    model = make_model()
    t = tensorize(words, actions, system, model.ids)
    assert t.length == len(actions)
    assert t.prev_action[0] == 0 and t.field[0] == grammar.root_field.id and t.parent[0] == -1
    assert t.prev_action[1:] == [model.ids.of(a) for a in actions[:-1]]
    hypothesis = system.initial()
    for i, action in enumerate(actions):
        assert t.parent[i] == hypothesis.frontier.parent_step < i
        assert t.field[i] == hypothesis.frontier.field.id
        hypothesis = hypothesis.apply(action)


def test_copy_target_cut_off_by_the_encoder_is_learnt_as_unk(batch):
    """A token copyable only from a word the encoder dropped (too long an intent) must not cost 1e9."""
    from tranx.model import _without_impossible_targets
    model = make_model()
    token_steps = (batch.rule_target < 0) & ~batch.reduce_target & batch.step_mask
    copy_only = token_steps & (batch.token_target < 0)
    assert copy_only.any()  # the fixture's tiny vocabulary leaves some tokens copy-only
    kept = _without_impossible_targets(batch, torch.ones(batch.copy_target.shape[0], batch.copy_target.shape[2],
                                                         dtype=torch.bool), model.tokens.unk_id)
    assert kept is batch  # all words present: nothing changes
    cut = torch.zeros(batch.copy_target.shape[0], batch.copy_target.shape[2], dtype=torch.bool)  # all cut off
    fixed = _without_impossible_targets(batch, cut, model.tokens.unk_id)
    assert (fixed.token_target[copy_only] == model.tokens.unk_id).all()
    assert torch.equal(fixed.token_target[~copy_only], batch.token_target[~copy_only])


def test_word_lstm_switch(batch):
    """`model.word_lstm` adds a BiLSTM over the word states: more parameters, another loss, saved with the decoder."""
    plain, adapted = make_model(), make_model(word_lstm=True)
    assert plain.decoder.word_lstm is None and adapted.decoder.word_lstm is not None
    assert any(name.startswith("word_lstm.") for name in adapted.decoder.state_dict())
    with torch.no_grad():
        assert not torch.allclose(plain.loss(batch)[0], adapted.loss(batch)[0])
        # padding stays out of the BiLSTM: an example alone scores as in the padded batch
        alone = adapted.loss(collate(tensor_examples(adapted, conala_examples()[:1])))[0]
        assert torch.allclose(alone, adapted.loss(batch)[0][:1], atol=1e-4)


def test_word_embed_switch(batch):
    """`model.word_embed_size` joins learned embeddings of the word units to the encoder's states: another loss, and
    an example's loss depends on the embedding of its own words only."""
    plain, embedded = make_model(), make_model(word_embed_size=8)
    assert plain.decoder.word_embed is None and "word_embed.weight" in embedded.decoder.state_dict()
    words = embedded.words
    first = conala_examples()[0].words
    ids = embedded.word_ids([first, ["zzz-never-seen"]], len(first) + 1)
    assert ids[0].tolist() == [words.id(w) for w in first] + [0]  # padded with <pad> = 0
    assert ids[1].tolist() == [words.unk_id] + [0] * len(first)
    with torch.no_grad():
        before = embedded.loss(batch)[0]
        assert not torch.allclose(plain.loss(batch)[0], before)
        # a word only example 0 has, in the vocabulary: its embedding moves example 0's loss, not the others'
        own = next(w for w in first if w in words and all(w not in ws for ws in batch.words[1:]))
        embedded.decoder.word_embed.weight[words.id(own)] += 1.0
        after = embedded.loss(batch)[0]
    assert not torch.isclose(after[0], before[0])
    others = [i for i, ws in enumerate(batch.words) if own not in ws]
    assert others and torch.allclose(after[others], before[others])


def test_word_embed_needs_a_vocabulary():
    grammar, _ = grammar_and_system()
    config = tiny_config(word_embed_size=8)
    with pytest.raises(ValueError, match="word vocabulary"):
        TranxModel(config, grammar, token_vocab(), build_encoder(config))
