"""The plan of an ablation: which variants (the full model and one per removed component), which seeds, which
budget, and the commands that train and decode each run (tranx.ablation.runner runs them).

`COMPONENTS` says which config overrides remove each component. `STAGES` are stages added after supervised
training instead (RL fine-tuning with either KL): such a run is `tranx rl` of the full model's run of the same seed,
so the table compares supervised only (full) with supervised + RL. A run is DIR/runs/<variant>-s<seed>/; its state
(new, resumable, trained, done) is read from what is on disk, so a killed study resumes. DIR/plan.json keeps the
settings the runs were started with; a later call with other settings is refused rather than mixing runs.
"""

from __future__ import annotations

import copy
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tranx.config import Config, load_config
from tranx.errors import TranxError
from tranx.io import write_json
from tranx.rl.config import RLConfig, load_rl_config

#: What removes each component: config overrides of the full model.
COMPONENTS: dict[str, tuple[str, ...]] = {
    "substitution": ("train.substitution=false",),
    "copy": ("model.copy=false",),
    # copy removed, and every training token made generable: the primitive vocabulary's frequency cutoff is chosen
    # for a model that copies (Django's 15 leaves 499 tokens), so plain `copy` also takes most identifiers away
    "copy_vocabulary": ("model.copy=false", "train.token_cutoff=1"),
    # variant (a): the grammar decoder trained without the grammar mask (search still masks)
    "grammar": ("model.grammar_mask_in_training=false",),
    # variant (b), the paper's: no grammar at all, the code's tokens one by one (same encoder, attention and copy)
    "grammar_decoder": ("train.language=tokens:python",),
    "encoder": ("model.encoder=lstm",),  # the input representation: a BiLSTM over pieces instead of BERT
    "parent": ("model.parent_feeding=false",),
    "word_lstm": ("model.word_lstm=false",),
    "word_embeddings": ("model.word_embed_size=0",),
    "weight_average": ("train.weight_average=0",),
}

#: Stages added after supervised training: `tranx rl` of the full model's run (same seed) with the --rl-config file,
#: the user's rl.* overrides and these. Their rows read as the others (variant minus full): what the stage adds.
STAGES: dict[str, tuple[str, ...]] = {
    "rl_none": ("rl.kl=none",),
    "rl_standard": ("rl.kl=standard",),
    "rl_prioritized": ("rl.kl=prioritized",),
}

#: What each component is, for the report.
DESCRIPTIONS = {
    "substitution": "lexical substitution of quoted values",
    "copy": "copy mechanism",
    "copy_vocabulary": "copy mechanism (every training token generable instead)",
    "grammar": "grammar mask in training",
    "grammar_decoder": "grammar decoder (Python tokens instead)",
    "encoder": "BERT encoder (LSTM instead)",
    "parent": "parent feeding",
    "word_lstm": "BiLSTM over the word states",
    "word_embeddings": "learned word embeddings",
    "weight_average": "weight averaging",
    "rl_none": "adds RL fine-tuning, no KL",
    "rl_standard": "adds RL fine-tuning, standard KL",
    "rl_prioritized": "adds RL fine-tuning, prioritized KL",
}

FULL = "full"


def tranx_command() -> list[str]:
    """How to call `tranx` in a subprocess: the console script beside this Python, else `python -m tranx.cli`."""
    script = Path(sys.executable).parent / "tranx"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "tranx.cli"]


# --- the plan ---------------------------------------------------------------------------------------------------

@dataclass
class Run:
    variant: str
    seed: int
    folder: Path
    base: "Run | None" = None  # a stage's run starts from this (the full model's run of the same seed)

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def log(self) -> Path:
        return self.folder.parent / f"{self.name}.log"

    @property
    def execution_details(self) -> Path:
        """The unit-test outcomes of its test predictions, for a task with tests (`tranx eval --details`)."""
        return self.folder / "test.execution.jsonl"

    @property
    def steps_file(self) -> Path:
        return self.folder / "ablation-steps.json"

    def state(self) -> str:
        """done (test.json), trained (summary.json), resumable (last/) or new (the same files for an RL stage)."""
        if (self.folder / "test.json").is_file():
            return "done"
        if (self.folder / "summary.json").is_file():
            return "trained"
        if (self.folder / "last").is_dir():
            return "resumable"
        return "new"

    def steps(self) -> list[dict]:
        """The subprocesses run for this run so far: step (train / resume / eval), wall and CPU seconds, rc."""
        if not self.steps_file.is_file():
            return []
        return json.loads(self.steps_file.read_text(encoding="utf-8"))


@dataclass
class Plan:
    config_path: str
    overrides: list[str]  # the user's, applied to every variant
    components: list[str]
    seeds: list[int]
    out: Path
    budget: dict  # {"kind": "epochs" | "minutes" | "config", "max_epochs", "max_minutes", "patience"}
    budget_overrides: list[str]
    config: Config  # the full model's config (budget included, seed aside)
    test_limit: int | None = None
    resamples: int = 10_000
    argv: list[str] = field(default_factory=list)  # the command line, for the report's provenance
    rl_config: str | None = None  # the RL config file of the stages (STAGES)
    rl_overrides: list[str] = field(default_factory=list)  # the user's rl.* overrides, applied to every stage
    rl_settings: dict | None = None  # the stages' RL config after those overrides (seed and kl aside)

    full = FULL

    @staticmethod
    def description(variant: str) -> str | None:
        return DESCRIPTIONS.get(variant)

    @property
    def dataset(self) -> str:
        return self.config.train.dataset

    @property
    def data_root(self) -> str | None:
        return self.config.train.data_root

    @property
    def variants(self) -> dict[str, list[str]]:
        """Variant name -> its overrides on top of the full model's."""
        return {FULL: [], **{c: list(COMPONENTS.get(c) or STAGES[c]) for c in self.components}}

    def runs(self) -> list[Run]:
        folder = lambda v, s: self.out / "runs" / f"{v}-s{s}"
        return [Run(v, s, folder(v, s), Run(FULL, s, folder(FULL, s)) if v in STAGES else None)
                for v in self.variants for s in self.seeds]

    def train_command(self, run: Run) -> list[str]:
        if run.base is not None:  # a stage: RL from the full model's run, on the same data
            data = ([f"rl.data_root={self.data_root}"] if self.data_root and not any(
                o.startswith("rl.data_root=") for o in self.rl_overrides) else [])
            return [*tranx_command(), "rl", str(run.base.folder), self.rl_config, *data, *self.rl_overrides,
                    *self.variants[run.variant], f"rl.seed={run.seed}", "--out", str(run.folder), "--threads", "1"]
        return [*tranx_command(), "train", self.config_path, *self.overrides, *self.budget_overrides,
                *self.variants[run.variant], f"train.seed={run.seed}", "--out", str(run.folder), "--threads", "1"]

    def resume_command(self, run: Run) -> list[str]:
        step = "rl" if run.base is not None else "train"
        return [*tranx_command(), step, "--resume", str(run.folder), "--threads", "1"]

    def eval_command(self, run: Run) -> list[str]:
        command = [*tranx_command(), "eval", str(run.folder), "--dataset", self.dataset, "--split", "test",
                   "--out", str(run.folder / "test.predictions.jsonl"), "--result", str(run.folder / "test.json"),
                   "--threads", "1"]
        if self.data_root:
            command += ["--data-root", self.data_root]
        if self.test_limit:
            command += ["--limit", str(self.test_limit)]
        from preprocess.tasks import get_task
        if get_task(self.dataset).unit_tests:  # pass@1 of the top candidate, per problem (the report reads it)
            command += ["--execute", "--details", str(run.execution_details)]
        return command

    def describe_budget(self) -> str:
        b = self.budget
        if b["kind"] == "minutes":
            text = (f"at most {b['max_minutes']:g} training minutes per run (--budget-minutes; train.max_minutes), "
                    f"and at most {b['max_epochs']} epochs")
        else:
            how = "--budget-epochs; train.max_epochs" if b["kind"] == "epochs" else "the config's train.max_epochs"
            text = f"at most {b['max_epochs']} epoch{'s' if b['max_epochs'] != 1 else ''} per run ({how})"
            if b["max_minutes"]:
                text += f" and {b['max_minutes']:g} minutes (the config's train.max_minutes)"
        text += f"; early stopping after {b['patience']} dev evaluations without improvement"
        if self.rl_settings is not None:
            r = self.rl_settings
            text += (f"; the RL stages: {r['steps']} steps of {r['problems_per_step']} problems x {r['samples']} "
                     f"samples ({self.rl_config}{' ' + ' '.join(self.rl_overrides) if self.rl_overrides else ''}), "
                     f"the checkpoint chosen on dev every {r['eval_every']} steps")
        return text

    def to_json(self) -> dict:
        """What DIR/plan.json keeps: the settings that must not change between calls on the same DIR."""
        out = {"config_file": self.config_path, "overrides": self.overrides, "budget": self.budget,
               "test_limit": self.test_limit, "config": _without_seed(self.config)}
        if self.rl_settings is not None:
            out["rl"] = {"config_file": self.rl_config, "overrides": self.rl_overrides, "config": self.rl_settings}
        return out


def _without_seed(config: Config) -> dict:
    out = config.to_json()
    out["train"] = {k: v for k, v in out["train"].items() if k not in ("seed", "threads")}
    return out


def parse_components(text: str) -> list[str]:
    names = [c.strip() for c in text.split(",") if c.strip()]
    if not names:
        raise TranxError(f"--components is empty; give some of {', '.join([*COMPONENTS, *STAGES])}")
    unknown = [c for c in names if c not in COMPONENTS and c not in STAGES]
    if unknown:
        raise TranxError(f"unknown component{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                         f"known: {', '.join([*COMPONENTS, *STAGES])}")
    twice = sorted({c for c in names if names.count(c) > 1})
    if twice:
        raise TranxError(f"component {', '.join(twice)} given twice in --components")
    return names


def make_plan(config_path: str, components: list[str] | str, seeds: int, out: str | os.PathLike, *,
              budget_epochs: int | None = None, budget_minutes: float | None = None, overrides: list[str] = (),
              test_limit: int | None = None, resamples: int = 10_000, argv: list[str] | None = None,
              rl_config: str | None = None) -> Plan:
    """Check everything that can be checked before training anything: components, seeds, budget, the config and
    every variant's config, that each component is on in the config (else there is nothing to remove), and the RL
    config of the stages. Overrides `rl.KEY=VALUE` go to the RL stages, the others to training."""
    if isinstance(components, str):
        components = parse_components(components)
    else:
        components = parse_components(",".join(components))
    if seeds < 1:
        raise TranxError(f"--seeds must be at least 1, got {seeds}")
    if budget_epochs is not None and budget_minutes is not None:
        raise TranxError("give --budget-epochs or --budget-minutes, not both")
    if budget_epochs is not None and budget_epochs < 1:
        raise TranxError(f"--budget-epochs must be at least 1, got {budget_epochs}")
    if budget_minutes is not None and not budget_minutes > 0:
        raise TranxError(f"--budget-minutes must be positive, got {budget_minutes}")
    if test_limit is not None and test_limit < 1:
        raise TranxError(f"--test-limit must be at least 1, got {test_limit}")
    if resamples < 1:
        raise TranxError(f"--resamples must be at least 1, got {resamples}")
    rl_overrides = [o for o in overrides if o.split("=", 1)[0].strip().startswith("rl.")]
    overrides = [o for o in overrides if o not in rl_overrides]
    for assignment in overrides:
        key = assignment.split("=", 1)[0].strip()
        if key in ("train.seed", "seed"):
            raise TranxError("train.seed is set per run by --seeds (seeds 1..S); leave it out of the overrides")
    rl_settings = _rl_settings(components, rl_config, rl_overrides)
    budget_overrides = ([f"train.max_epochs={budget_epochs}"] if budget_epochs is not None else
                        [f"train.max_minutes={budget_minutes:g}"] if budget_minutes is not None else [])
    config = load_config(config_path, overrides + budget_overrides)  # a bad key or value: one line, now
    kind = "epochs" if budget_epochs is not None else "minutes" if budget_minutes is not None else "config"
    budget = {"kind": kind, "max_epochs": config.train.max_epochs, "max_minutes": config.train.max_minutes,
              "patience": config.train.patience}
    full = _without_seed(config)
    if "grammar_decoder" in components:
        from preprocess.tasks import get_task
        written = config.train.language or get_task(config.train.dataset).language
        if written not in ("python", "asdl:python3"):
            raise TranxError(f"component 'grammar_decoder' replaces the Python grammar by Python's tokens; "
                             f"{config.train.dataset} is written in {written}")
    for component in (c for c in components if c in COMPONENTS):
        variant = copy.deepcopy(config).override(list(COMPONENTS[component]))
        if _without_seed(variant) == full:
            raise TranxError(f"component {component!r} is already off in {config_path}"
                             f"{' with ' + ' '.join(overrides) if overrides else ''} "
                             f"({' '.join(COMPONENTS[component])}): nothing to remove")
    return Plan(config_path=str(config_path), overrides=overrides, components=components,
                seeds=list(range(1, seeds + 1)), out=Path(out), budget=budget, budget_overrides=budget_overrides,
                config=config, test_limit=test_limit, resamples=resamples, argv=list(argv or sys.argv),
                rl_config=str(rl_config) if rl_config is not None else None, rl_overrides=rl_overrides,
                rl_settings=rl_settings)


def _rl_settings(components: list[str], rl_config: str | None, rl_overrides: list[str]) -> dict | None:
    """The RL stages' config (kl and seed aside: set per run), checked now; None without a stage."""
    stages = [c for c in components if c in STAGES]
    if not stages:
        if rl_config is not None or rl_overrides:
            given = "--rl-config" if rl_config is not None else " ".join(rl_overrides)
            raise TranxError(f"{given} is only used by the RL stages ({', '.join(STAGES)}), and --components has none")
        return None
    if rl_config is None:
        raise TranxError(f"component {stages[0]} needs --rl-config FILE (an RL config, such as the configs/rl-*.json)")
    for assignment in rl_overrides:
        if assignment.split("=", 1)[0].strip() in ("rl.seed", "rl.kl"):
            raise TranxError(f"{assignment}: rl.seed is set per run by --seeds and rl.kl by the stage; leave it out")
    return _rl_json(load_rl_config(rl_config, rl_overrides))


def _rl_json(config: RLConfig) -> dict:
    return {k: v for k, v in config.to_json()["rl"].items() if k not in ("seed", "kl", "threads")}


def check_plan_file(plan: Plan, path: Path | None = None, write: bool = True) -> None:
    """Refuse a DIR whose runs were started with other settings; write DIR/plan.json. `path`: another plan file to
    check against (a records folder's), then with `write` False."""
    path = plan.out / "plan.json" if path is None else path
    record = {**plan.to_json(), "components": plan.components, "seeds": plan.seeds}
    if path.is_file():
        before = json.loads(path.read_text(encoding="utf-8"))
        # a config key added to tranx since (absent there) has its default there: that is what those runs used
        before["config"] = _without_seed(Config.from_json(before.get("config", {}), source=str(path)))
        now = plan.to_json()
        changed = [key for key in ("config", "test_limit") if before.get(key) != now[key]]  # budget: in config
        if before.get("rl"):  # as for the config: a key added since has its default there
            before["rl"]["config"] = _rl_json(RLConfig.from_json({"rl": before["rl"]["config"]}, source=str(path)))
        if before.get("rl") and now.get("rl") and before["rl"]["config"] != now["rl"]["config"]:
            changed.append("RL config")
        if changed:
            detail = ""
            if "config" in changed:
                keys = [f"{s}.{k}" for s in ("model", "train")
                        for k in sorted(set(before["config"][s]) | set(now["config"][s]))
                        if before["config"][s].get(k) != now["config"][s].get(k)]
                detail = f" ({', '.join(keys)})" if keys else ""
            elif "RL config" in changed:
                keys = sorted(k for k in set(before["rl"]["config"]) | set(now["rl"]["config"])
                              if before["rl"]["config"].get(k) != now["rl"]["config"].get(k))
                detail = f" (rl.{', rl.'.join(keys)})"
            raise TranxError(f"{path.parent} holds runs started with another {' and '.join(changed)}{detail} "
                             f"(see {path}); use another --out, or the same settings to resume")
        if before.get("rl") and not now.get("rl"):  # a later call without the stages keeps their settings on record
            record["rl"] = before["rl"]
    if write:
        plan.out.mkdir(parents=True, exist_ok=True)
        write_json(path, record)
