"""RL fine-tuning of a trained translator on checkable rewards, with a (prioritized) KL to the supervised model.

config (RLConfig), rewards (unit tests, exact match, sentence BLEU), kl (exact KL over the valid actions, k2,
certainty and prioritized weights), problems (the problems of a split), rollout (samples as teacher-forced
batches), objective (the loss), trainer (the RL loop, run folders, probes of critical actions), critical (which
actions flip the outcome), commands (`tranx rl`, `tranx critical`).
"""
