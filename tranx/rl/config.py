"""The RL configuration: one JSON section `rl`, with type-checked `key=value` overrides like the model config.

Defaults are a start for an LSTM decoder on a 2-core CPU (the paper's GPT-2 used alpha 5-10, beta 150, lr 1e-6);
`configs/rl-*.json` hold the shipped arms.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import get_type_hints

from tranx.config import _check_type, _parse_value, read_config_file
from tranx.errors import TranxError

REWARDS = ("unit_tests", "pass_ratio", "exact_match", "bleu")
KL_KINDS = ("none", "standard", "prioritized")
KL_ESTIMATORS = ("exact", "k2")
CERTAINTIES = ("entropy", "max_prob")
PROBLEM_SETS = ("all", "unseen")


@dataclass
class RLConfig:
    dataset: str | None = None  # the reward's task (default: the task the supervised run was trained on)
    data_root: str | None = None
    reward: str = "unit_tests"  # unit_tests (CodeRL's scale), pass_ratio, exact_match, bleu (sentence, smoothed)
    # all: every usable training problem; unseen: only those the supervised run did not train on (past its
    # train.train_limit): RL on new problems with tests and no gold program, as a user would run it
    problems: str = "all"
    # a sample that defines no function runs as the body of the function the problem's tests call (its signature
    # is given with the problem): RL of a snippet model (CoNaLa's) on a task of functions
    snippets: bool = False
    kl: str = "prioritized"  # none, standard (weight 1 on every step), prioritized (weight J^beta)
    kl_estimator: str = "exact"  # exact: over every valid action of the step; k2: on the sampled action
    certainty: str = "entropy"  # J = 1 - H(ref)/log(n_valid), or max_prob: (p_max - 1/n) / (1 - 1/n)
    alpha: float = 0.5  # KL coefficient
    beta: float = 150.0  # exponent of the prioritized weight
    entropy_bonus: float = 0.0
    ce_anchor: float = 0.0  # weight of a cross-entropy term on the gold programs (CodeRL / RLTF's anchor); 0: off
    lr: float = 1e-4
    clip_norm: float = 1.0
    samples: int = 4  # k samples per problem (RLOO needs at least 2)
    problems_per_step: int = 8
    temperature: float = 1.0  # sampling temperature in training (log-probabilities are taken at it)
    max_decode_steps: int = 300
    steps: int = 200  # optimizer steps
    eval_every: int = 25  # steps between dev evaluations (greedy, executed or scored); best/ kept by dev
    dev_limit: int | None = None  # evaluate on the first N dev problems only
    critical_certainty: float = 0.5  # a step with reference certainty J below this counts as critical in the logs
    probe: str | None = None  # a `tranx critical --out` file: log the policy's probability of its correct actions
    seed: int = 1
    threads: int | None = 1
    workers: int = 1  # sandbox sessions in parallel

    def __post_init__(self):
        for name, value, allowed in (("reward", self.reward, REWARDS), ("kl", self.kl, KL_KINDS),
                                     ("kl_estimator", self.kl_estimator, KL_ESTIMATORS),
                                     ("certainty", self.certainty, CERTAINTIES),
                                     ("problems", self.problems, PROBLEM_SETS)):
            if value not in allowed:
                raise TranxError(f"rl.{name} {value!r} is not one of {', '.join(allowed)}")
        if self.samples < 2:
            raise TranxError(f"rl.samples must be at least 2 (the leave-one-out baseline), got {self.samples}")
        for name in ("problems_per_step", "steps", "eval_every", "max_decode_steps", "workers"):
            if getattr(self, name) < 1:
                raise TranxError(f"rl.{name} must be at least 1, got {getattr(self, name)}")
        if not self.temperature > 0:
            raise TranxError(f"rl.temperature must be positive, got {self.temperature}")
        for name in ("alpha", "beta", "entropy_bonus", "ce_anchor", "lr"):
            if getattr(self, name) < 0:
                raise TranxError(f"rl.{name} must not be negative, got {getattr(self, name)}")

    def to_json(self) -> dict:
        return {"rl": asdict(self)}

    @classmethod
    def from_json(cls, obj: dict, *, source: str = "rl config") -> "RLConfig":
        if not isinstance(obj, dict) or not isinstance(obj.get("rl", {}), dict) or set(obj) - {"rl"}:
            raise TranxError(f"{source}: an RL config is a JSON object with one section \"rl\"")
        return cls._build(obj.get("rl", {}), source)

    @classmethod
    def _build(cls, values: dict, source: str) -> "RLConfig":
        hints, known = get_type_hints(cls), {f.name for f in fields(cls)}
        checked = {}
        for key, value in values.items():
            name = key.removeprefix("rl.")
            if name not in known:
                raise TranxError(f"{source}: unknown RL config key '{key}'")
            checked[name] = _check_type(f"rl.{name}", value, hints[name], source)
        return cls(**checked)

    def override(self, assignments: list[str]) -> "RLConfig":
        values = asdict(self)
        for assignment in assignments:
            if "=" not in assignment:
                raise TranxError(f"override {assignment!r} is not KEY=VALUE (e.g. rl.alpha=5)")
            key, text = assignment.split("=", 1)
            name = key.strip().removeprefix("rl.")
            if name not in values:
                raise TranxError(f"override: unknown RL config key '{key.strip()}'")
            values[name] = _parse_value(text)
        return self._build(values, "override")


def load_rl_config(path: str | Path, overrides: list[str] = ()) -> RLConfig:
    return RLConfig.from_json(read_config_file(path, "RL config"), source=str(path)).override(list(overrides))
