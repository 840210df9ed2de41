"""The KL to the reference model and the prioritized weights, over the valid actions of each step.

Both models' step distributions come from the same grammar tables (tranx.data.tables), so they share one mask;
the action space (rules, Reduce, the type's tokens, the intent's words merged with them) is small enough that the
KL is summed over every valid action: no estimator noise. `k2` on the sampled action is the paper's alternative.

Certainty of the reference at a step (Vassoyan et al., 2025): J = 1 - H(pi_ref) / log(n_valid), 1 on a one-hot
step and 0 on a uniform one; or, with `max_prob`, (p_max - 1/n) / (1 - 1/n). A step with a single valid action
has no choice in it: it carries no KL weight and no entropy (`informative` is False there).
"""

from __future__ import annotations

import torch

from tranx.nn.distribution import NEG, VALID, dense_entropy


def tempered(log_probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """log-probabilities of the distribution the sampler draws from at `temperature` (invalid columns stay NEG)."""
    if temperature == 1.0:
        return log_probs
    valid = log_probs > VALID
    return torch.log_softmax((log_probs / temperature).masked_fill(~valid, NEG), -1).masked_fill(~valid, NEG)


def check_same_mask(policy: torch.Tensor, reference: torch.Tensor) -> None:
    if not torch.equal(policy > VALID, reference > VALID):
        rows = int(((policy > VALID) != (reference > VALID)).any(-1).sum())
        raise ValueError(f"policy and reference disagree on the valid actions of {rows} steps; both must use the "
                         "same grammar tables and vocabulary")


def exact_kl(policy: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """KL(policy || reference) [...] in nats over the valid columns of dense log-probabilities [..., K]."""
    valid = policy > VALID
    difference = (policy - reference).masked_fill(~valid, 0.0)
    return (policy.exp() * difference).sum(-1)


def k2(policy_sampled: torch.Tensor, reference_sampled: torch.Tensor) -> torch.Tensor:
    """The k2 estimator on the sampled actions: (log pi - log pi_ref)^2 / 2 (its gradient is the reverse KL's)."""
    return 0.5 * (policy_sampled - reference_sampled) ** 2


def certainty(reference: torch.Tensor, kind: str = "entropy") -> tuple[torch.Tensor, torch.Tensor]:
    """(J [...] in [0, 1], informative [...] bool: more than one valid action). J is 1 where uninformative."""
    h, n = dense_entropy(reference)
    informative = n > 1
    n_safe = n.clamp(min=2).to(reference.dtype)
    if kind == "entropy":
        j = 1.0 - h / n_safe.log()
    elif kind == "max_prob":
        top = reference.max(-1).values.exp()
        j = (top - 1.0 / n_safe) / (1.0 - 1.0 / n_safe)
    else:
        raise ValueError(f"unknown certainty {kind!r} (entropy or max_prob)")
    return torch.where(informative, j.clamp(0.0, 1.0), torch.ones_like(j)), informative


def kl_weights(j: torch.Tensor, informative: torch.Tensor, kind: str, beta: float) -> torch.Tensor:
    """Per-step KL weight: 0 without KL, 1 (standard), J^beta (prioritized); always 0 on uninformative steps."""
    if kind == "none":
        weights = torch.zeros_like(j)
    elif kind == "standard":
        weights = torch.ones_like(j)
    elif kind == "prioritized":
        weights = j.clamp(min=0.0) ** beta
    else:
        raise ValueError(f"unknown KL kind {kind!r} (none, standard or prioritized)")
    return weights * informative
