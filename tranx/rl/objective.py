"""The RL loss of one batch of samples: REINFORCE with leave-one-out advantages, a (prioritized) KL to the
reference, an optional entropy bonus and an optional cross-entropy anchor on gold programs.

    L = -mean_i A_i * sum_t log pi_T(a_t | s_t)                      (samples i, log-probs at the sampling temperature)
        + alpha * sum_t w_t * KL_t / n_informative                   (w_t: 0, 1 or J_t^beta; exact KL or k2)
        - entropy_bonus * sum_t H(pi(.|s_t)) / n_informative
        + ce_anchor * mean NLL(gold)

Both models are scored in eval mode (no dropout: a dropout mask would make the policy differ from itself and the
KL from zero at step 0) over the same grammar tables, so they share one mask (checked). The KL and the entropy are
taken of the untempered policy, which is the model being regularised.

Left out: sampling (tranx.rl.rollout), rewards (tranx.rl.rewards).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tranx.data.examples import Batch
from tranx.nn.distribution import VALID, dense_entropy
from tranx.rl.config import RLConfig
from tranx.rl.kl import certainty, check_same_mask, exact_kl, k2, kl_weights, tempered

WEIGHT_BINS = (0.0, 0.01, 0.1, 0.5, 0.9, 0.99, 1.0)


@dataclass
class LossParts:
    loss: torch.Tensor
    stats: dict


def rl_loss(policy, reference, batch: Batch, advantages: torch.Tensor, config: RLConfig, *, encoder=None,
            gold: Batch | None = None) -> LossParts:
    """`advantages` [N] per row of `batch` (the samples); `gold`: teacher-forcing rows of gold programs (CE anchor)."""
    policy_log_probs = policy.teacher_forced(batch, encoder)[0].log_probs()  # [N, T, K], with gradients
    with torch.no_grad():
        reference_log_probs = reference.teacher_forced(batch, encoder)[0].log_probs()
    check_same_mask(policy_log_probs, reference_log_probs)
    target = batch.target.clamp(min=0).unsqueeze(-1)
    sampled = tempered(policy_log_probs, config.temperature).gather(-1, target).squeeze(-1)  # [N, T]
    steps = batch.step_mask & (batch.target >= 0) & (sampled > VALID)
    sampled = sampled.masked_fill(~steps, 0.0)
    per_step_pg = -advantages.unsqueeze(1) * sampled
    pg = per_step_pg.sum() / len(advantages)

    j, informative = certainty(reference_log_probs, config.certainty)
    informative = informative & steps
    weights = kl_weights(j, informative, config.kl, config.beta)
    if config.kl_estimator == "exact":
        kl = exact_kl(policy_log_probs, reference_log_probs)
    else:
        kl = k2(policy_log_probs.gather(-1, target).squeeze(-1),
                reference_log_probs.gather(-1, target).squeeze(-1))
    kl = kl.masked_fill(~informative, 0.0)
    n_informative = informative.sum().clamp(min=1)
    weighted_kl = (weights * kl).sum() / n_informative
    policy_entropy, _ = dense_entropy(policy_log_probs)
    mean_entropy = policy_entropy.masked_fill(~informative, 0.0).sum() / n_informative
    loss = pg + config.alpha * weighted_kl - config.entropy_bonus * mean_entropy
    ce = None
    if gold is not None and config.ce_anchor > 0:
        nll, scored = policy.loss(gold, encoder)
        ce = nll.sum() / scored.sum().clamp(min=1)
        loss = loss + config.ce_anchor * ce

    loss_value = float(loss.detach())
    with torch.no_grad():
        critical = informative & (j < config.critical_certainty)
        kl_mass = (weights * kl).abs()
        pg_mass = per_step_pg.abs()
        n = int(informative.sum())
        chosen = weights[informative]
        histogram = torch.histogram(chosen.float(), bins=torch.tensor(WEIGHT_BINS)).hist if n else torch.zeros(6)
        stats = {
            "loss": loss_value, "pg_loss": float(pg.detach()), "kl": float(kl.detach().sum() / n_informative),
            "weighted_kl": float(weighted_kl.detach()), "entropy": float(mean_entropy.detach()),
            "ce": float(ce.detach()) if ce is not None else None,
            "steps": int(steps.sum()), "informative_steps": n,
            "critical_step_share": float(critical.sum()) / max(n, 1),
            "mean_certainty": float(j[informative].mean()) if n else None,
            "mean_kl_weight": float(chosen.mean()) if n else None,
            "kl_critical_share": float(kl_mass[critical].sum() / kl_mass.sum().clamp(min=1e-12)),
            "pg_critical_share": float(pg_mass[critical].sum() / pg_mass.sum().clamp(min=1e-12)),
            "kl_weight_histogram": {f"{lo}-{hi}": int(c) for lo, hi, c in
                                    zip(WEIGHT_BINS, WEIGHT_BINS[1:], histogram.tolist())},
        }
    return LossParts(loss, stats)
