"""Tests for tranx.nn.model / tranx.nn.decoder / tranx.data.examples: the teacher-forced, grammar-masked loss.

Tiny random models (tests/model_fixtures.py) on the first CoNaLa training examples. What is checked: the loss trains;
the training distribution gives exactly the actions the grammar tables allow (rules by field, tokens by primitive
type, never <pad> or <unk>, copyable words) non-zero mass and sums to one over them; each model switch
(`grammar_mask_in_training`, `copy`, `parent_feeding`) changes the numbers it should; and the teacher-forced loss is
exactly the sum of the per-step scores `decode_step` gives along the oracle (training and search agree).
"""

from __future__ import annotations

import math

import pytest
import torch

from model_fixtures import (conala_examples, grammar_and_system, make_model, replay_log_probs, teacher_forced_scores,
                            tensor_examples, tiny_config, token_vocab, train)
from tranx.grammar.actions import GenToken, action_from_json
from tranx.data.examples import collate, tensorize
from tranx.nn.distribution import COPY, GEN, NEG, VALID
from tranx.languages import get_language
from tranx.nn.model import TranxModel, build_encoder


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
    scorable = [sum(t >= 0 for t in e.target) for e in tensor_examples(model, conala_examples()[:8])]
    assert nll.shape == steps.shape == (8,)
    assert steps.tolist() == scorable
    assert sum(scorable) > 0.95 * sum(len(e.actions) for e in conala_examples()[:8])
    assert (nll > 0).all() and torch.isfinite(nll).all()
    # padding is inert: each example alone gets the loss it gets in the padded batch
    model_alone = [model.loss(collate(tensor_examples(model, [e])))[0].item() for e in conala_examples()[:8]]
    assert nll.tolist() == pytest.approx(model_alone, rel=1e-5)


def expected_valid_columns(model, batch) -> torch.Tensor:
    """[S, K] the columns the grammar allows at each real step, built from the transition system, the language's
    token check and the vocabulary's per-type token lists (not from the model's tables)."""
    grammar, system = grammar_and_system()
    language = get_language("python")
    tokens = model.tokens
    fields = (*grammar.fields, grammar.root_field)
    R, V = len(grammar.constructors), len(tokens)
    W = max(len(w) for w in batch.words)
    out = []
    for b in range(batch.field.size(0)):
        words = batch.words[b]
        for t in range(int(batch.step_mask[b].sum())):
            field = fields[int(batch.field[b, t])]
            valid = system.valid_for_field(field)
            row = torch.zeros(R + 1 + V + W, dtype=torch.bool)
            row[list(valid.constructor_ids)] = True
            row[R] = valid.reduce
            if valid.token:
                own = {tokens.token(i) for i in tokens.types.get(field.type, ())}
                for token in own:
                    if language.token_ok(field.type, token):
                        row[R + 1 + tokens.id(token)] = True
                for p, word in enumerate(words):
                    if language.token_ok(field.type, word) and word not in own and words.index(word) == p:
                        row[R + 1 + V + p] = True
            out.append(row)
    return torch.stack(out)


def test_training_distribution_is_the_grammar_tables(batch):
    model = make_model()
    with torch.no_grad():
        distribution, _, _ = teacher_forced_scores(model, batch)
        dense = distribution.log_probs()[batch.step_mask]  # [S, K]
        scored = batch.step_mask & (batch.target >= 0)
        nll = -distribution.log_prob(batch.target).masked_fill(~scored, 0).sum(1)
        assert torch.allclose(nll, model.loss(batch)[0], rtol=1e-6)  # the loss is this distribution's
    expected = expected_valid_columns(model, batch)
    assert torch.equal(dense > VALID, expected)
    assert torch.equal(dense[~expected], torch.full((int((~expected).sum()),), NEG))  # exactly zero mass
    assert torch.allclose(dense.exp().sum(-1), torch.ones(len(dense)), atol=1e-5)  # a distribution over the valid
    tokens = model.tokens
    R = len(grammar_and_system()[0].constructors)
    assert not expected[:, R + 1 + tokens.unk_id].any() and not expected[:, R + 1 + tokens.pad_id].any()
    composite = expected[:, :R].any(-1)
    assert composite.sum() > 20 and (~composite).sum() > 5
    # the dense table and the exact log-space scoring agree on every oracle target
    targets = batch.target[batch.step_mask]
    scored = targets >= 0
    assert torch.allclose(dense.gather(1, targets.clamp(min=0).unsqueeze(1)).squeeze(1)[scored],
                          distribution.log_prob(batch.target)[batch.step_mask][scored], atol=1e-5)


def test_unmasked_training_gives_invalid_actions_mass(batch):
    masked = make_model()
    unmasked = make_model(grammar_mask_in_training=False)
    for a, b in zip(masked.state_dict().values(), unmasked.state_dict().values()):
        assert torch.equal(a, b)  # same weights: only the switch differs
    with torch.no_grad():
        distribution, _, _ = teacher_forced_scores(unmasked, batch)
        nll_masked = masked.loss(batch)[0]
        nll_unmasked = unmasked.loss(batch)[0]
    expected = expected_valid_columns(masked, batch)
    dense = distribution.log_probs()[batch.step_mask]
    R = len(grammar_and_system()[0].constructors)
    composite = expected[:, :R].any(-1)
    invalid_rules = ~expected[composite][:, :R + 1]
    rule_p = dense[composite][:, :R + 1].exp()
    assert (rule_p[invalid_rules] > 0).all()
    assert (rule_p * invalid_rules).sum() / composite.sum() > 0.5  # most mass of a random model is on invalid rules
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
    tables = with_copy.tables

    on = tensorize(words, actions, system, tables, copy=True)
    off = tensorize(words, actions, system, without_copy.tables, copy=False)
    assert on.target[step] == tables.token_offset + tables.num_tokens + 1  # the word at position 1, copied
    assert off.target[step] == -1 and off.unscorable == 1  # no column: <unk> gets no mass, the step is left out
    assert on.target[:step] == off.target[:step] and on.unscorable == 0

    with torch.no_grad():
        d_on, _, _ = teacher_forced_scores(with_copy, collate([on]))
        d_off, _, _ = teacher_forced_scores(without_copy, collate([off]))
        lp_on = d_on.log_prob(collate([on]).target)[0]
        assert without_copy.loss(collate([off]))[1].item() == len(actions) - 1
    assert torch.equal(d_off.gate[..., COPY].exp(), torch.zeros(1, len(actions)))  # no copy probability at all
    primitive = d_on.primitive[0]
    assert (d_on.gate[0, primitive, COPY].exp() > 0).all()
    assert lp_on[step].item() == pytest.approx(d_on.gate[0, step, COPY].item() + d_on.copy[0, step, 1].item(),
                                               abs=1e-5)


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
        distribution, _, _ = teacher_forced_scores(model, batch)
        per_step = distribution.log_prob(batch.target)
        nll = model.loss(batch)[0]
    for i, example in enumerate(examples):
        actions = [action_from_json(grammar, a) for a in example.actions]
        replayed = replay_log_probs(model, example.words, actions)
        assert [t < 0 for t in batch.target[i, :len(actions)].tolist()] == [r is None for r in replayed]
        kept = [t for t, r in enumerate(replayed) if r is not None]
        assert per_step[i, kept].tolist() == pytest.approx([replayed[t] for t in kept], abs=2e-5)
        assert -nll[i].item() == pytest.approx(sum(replayed[t] for t in kept), abs=1e-3, rel=1e-5)


def test_tensorize_records_the_decoders_view(copy_only_example):
    words, actions = copy_only_example
    grammar, system = grammar_and_system()
    model = make_model()
    t = tensorize(words, actions, system, model.tables)
    assert t.length == len(actions)
    assert t.prev_action[0] == 0 and t.field[0] == grammar.root_field.id and t.parent[0] == -1
    assert t.prev_action[1:] == [model.ids.of(a) for a in actions[:-1]]
    hypothesis = system.initial()
    for i, action in enumerate(actions):
        assert t.parent[i] == hypothesis.frontier.parent_step < i
        assert t.field[i] == hypothesis.frontier.field.id
        hypothesis = hypothesis.apply(action)


def test_copy_target_cut_off_by_the_encoder_is_left_out(copy_only_example):
    """A token copyable only from a word the encoder dropped (too long an intent) has no valid column: the step is
    left out of the loss instead of costing 1e9."""
    words, actions = copy_only_example
    model = make_model()
    _, system = grammar_and_system()
    batch = collate([tensorize(words, actions, system, model.tables)])

    class WithoutSecondWord:  # the encoder, with word 1 ("zzqx") cut off as truncation would
        def batch(self, w):
            return model.encoder.batch(w)

        def __call__(self, b):
            out = model.encoder(b)
            out.word_mask[:, 1] = False
            return out

    with torch.no_grad():
        nll, steps = model.loss(batch)
        cut_nll, cut_steps = model.loss(batch, WithoutSecondWord())
    assert steps.item() == len(actions) and cut_steps.item() == len(actions) - 1
    assert 0 < cut_nll.item() < 1e4


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
