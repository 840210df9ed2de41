"""RL fine-tuning of a trained translator on checkable rewards, with a (prioritized) KL to the supervised model.

config (RLConfig), rewards (unit tests, exact match, sentence BLEU), kl (exact KL over the valid actions, k2,
certainty and prioritized weights), rollout (samples as teacher-forced batches), objective (the loss), trainer
(`tranx rl`), critical (`tranx critical`: which actions flip the outcome), probes (the probability of the correct
critical actions during training).
"""
