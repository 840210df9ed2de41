"""`tranx rl`: on-policy fine-tuning of a trained run on a checkable reward, with a KL to the supervised model.

Each step draws `problems_per_step` training problems (a fixed shuffled order per epoch), `samples` programs for each
at the training temperature, scores them (tranx.rl.rewards), and takes one optimizer step on the loss of
tranx.rl.objective with leave-one-out (RLOO) advantages: no critic to train, and with k = 4 it beat PPO (Ahmadian et
al., 2024). The frozen reference is the supervised checkpoint; the encoder is frozen and its outputs cached, so only
the decoder (with its word LSTM) moves.

A run folder holds `rl.json` (the base run and the RL config), `metrics.jsonl` (a row per step and per dev
evaluation), `curves.png`, `best/` (the checkpoint with the best greedy dev score: the pass rate, or the task's
selection metric; the base itself until a step beats it), `last/` (decoder, optimizer, sampler and RNG state, the
verdict cache: `--resume` continues bit for bit) and `summary.json`.

Left out: the loss (tranx.rl.objective), sampling (tranx.rl.rollout), rewards (tranx.rl.rewards).
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import torch
from tqdm import tqdm

from preprocess.tasks import get_task
from preprocess.words import model_words

from tranx.data.examples import collate, tensorize
from tranx.errors import TranxError
from tranx.evaluation.scoring import task_scores
from tranx.io import atomic_folder, pyplot, save_figure, write_json
from tranx.rl.config import RLConfig
from tranx.rl.objective import rl_loss
from tranx.rl.problems import load_rl_problems
from tranx.rl.rewards import build_reward
from tranx.rl.rollout import actions_from_columns, leave_one_out, prepare, roll_out
from tranx.threads import set_threads
from tranx.training.checkpoint import optimizer_state, read_metrics, restore_optimizer, truncate_log
from tranx.translator import Translator, resolve_checkpoint

RL_FORMAT = "tranx-rl-run"


class RLTrainer:
    def __init__(self, base: str | os.PathLike, config: RLConfig, out: str | os.PathLike, *, resume: bool = False,
                 progress: bool | None = None):
        self.base, self.config, self.run, self.progress = Path(base), config, Path(out), progress
        c = config
        set_threads(c.threads)
        torch.manual_seed(c.seed)
        if not resume:
            if (self.run / "last").exists():
                raise TranxError(f"{self.run} already holds an RL run; resume it with --resume or pick another --out")
            self.run.mkdir(parents=True, exist_ok=True)
            write_json(self.run / "rl.json", {"format": RL_FORMAT, "base": str(self.base), **c.to_json()})
            (self.run / "metrics.jsonl").unlink(missing_ok=True)
        self.translator = Translator.from_pretrained(self.base)
        if self.translator.config.train.retrieve:
            raise TranxError(f"{self.base} reads retrieved training pairs (train.retrieve): RL on training problems "
                             f"would show each problem its own answer; RL of such a model is not supported yet")
        self.policy = self.translator.model
        self.reference = Translator.from_pretrained(self.base).model
        for parameter in [*self.reference.parameters(), *self.policy.encoder.parameters()]:
            parameter.requires_grad_(False)
        self.policy.eval()  # no dropout when sampling or scoring
        self.reference.eval()
        self.task = get_task(c.dataset) if c.dataset else self.translator.task
        self.reward = build_reward(c.reward, self.task, workers=c.workers, snippets=c.snippets)
        self.train_problems, excluded = load_rl_problems(self.task, "train", c.data_root, workers=c.workers)
        if c.problems == "unseen":
            self.train_problems = self._unseen(self.train_problems)
        self.dev_problems, _ = load_rl_problems(self.task, "dev", c.data_root, workers=c.workers)
        self.dev_problems = self.dev_problems[:c.dev_limit] if c.dev_limit else self.dev_problems
        self.excluded = len(excluded)
        self.metric = "pass@1 (greedy)" if self.task.unit_tests else self.task.selection_metric
        if not self.train_problems or not self.dev_problems:
            raise TranxError(f"{self.task.name}: no usable training or dev problems")
        self.encoder = self._encoding_cache()
        self.gold = self._gold_examples() if c.ce_anchor > 0 else {}
        self.probes = self._load_probes(c.probe) if c.probe else []
        parameters = [p for p in self.policy.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(parameters, lr=c.lr)
        self.generator = torch.Generator().manual_seed(c.seed)
        self._orders: dict[int, list[int]] = {}  # the shuffled problem order of the current epoch
        self.state = {"step": 0, "best": None, "best_step": None, "seconds": 0.0, "executed": 0}
        if resume:
            self._load_last()

    # --- set-up -------------------------------------------------------------------------------------
    def _encoding_cache(self):
        if self.translator.config.model.encoder == "lstm":
            return None  # a BiLSTM encoder is cheap; it stays frozen and runs on the fly
        from tranx.nn.encoding_cache import EncodingCache
        cache = EncodingCache(self.policy.encoder)
        cache.add(prepare(self.translator, self.train_problems + self.dev_problems)[0])
        return cache

    def _training_examples(self) -> list:
        """The base's training split as its training preprocessed it (kept examples, file order)."""
        from tranx.data.pipeline import preprocess_dataset
        t = self.translator.config.train
        result = preprocess_dataset(self.task.name, self.config.data_root, substitution=t.substitution,
                                    language=t.language, splits=["train"])
        return result.kept("train")

    def _unseen(self, problems: list) -> list:
        """`problems` less those the base trained on (the first train.train_limit kept examples)."""
        t = self.translator.config.train
        if self.task.name != t.dataset:
            return problems  # another task's problems: the base saw none of them
        if self.config.ce_anchor > 0:
            raise TranxError("rl.problems=unseen holds the RL problems' gold programs out; rl.ce_anchor trains on "
                             "them: use one or the other")
        if not t.train_limit:
            raise TranxError(f"rl.problems=unseen: {self.base} trained on every {self.task.name} training example "
                             f"(no train.train_limit); train the base with train.train_limit=N to hold some out")
        seen = {e.id for e in self._training_examples()[:t.train_limit]}
        unseen = [p for p in problems if p.id not in seen]
        if not unseen:
            raise TranxError(f"rl.problems=unseen: {self.base} trained on all {len(problems)} usable problems")
        return unseen

    def _gold_examples(self) -> dict:
        """Teacher-forcing rows of the gold programs of the training problems (the CE anchor), by problem id."""
        split_dotted = self.translator.config.train.split_dotted_words
        model = self.policy
        return {e.id: tensorize(model_words(e.words, split_dotted), e.actions, model.system, model.tables,
                                copy=model.config.copy) for e in self._training_examples()}

    def _load_probes(self, path: str) -> list:
        from tranx.rl.critical import probe_set
        try:
            report = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise TranxError(f"rl.probe {path}: cannot read a `tranx critical --out` report ({exc})") from None
        measured = report.get("run")
        try:
            base = resolve_checkpoint(self.base).resolve()
            same = measured is not None and resolve_checkpoint(measured).resolve() == base
        except TranxError:  # the measured run is gone: nothing says its columns are the base's
            same = False
        if not same:
            # its prefixes are action columns of the model it was measured on: another vocabulary reads them wrongly
            raise TranxError(f"rl.probe {path} was measured on {measured!r}, not on the base run {self.base}")
        probes = []
        for probe in probe_set(report):
            words, _ = self.translator.prepare(probe["intent"])
            actions = actions_from_columns(self.policy, words, [*probe["prefix"], probe["correct"]])
            probes.append(tensorize(words, actions, self.policy.system, self.policy.tables,
                                    copy=self.policy.config.copy))
        return probes

    # --- the loop -------------------------------------------------------------------------------------
    def problems_at(self, step: int) -> list:
        """The problems of optimizer step `step` (0-based): consecutive slices of one shuffled order per epoch."""
        n, size = len(self.train_problems), self.config.problems_per_step
        out = []
        for position in range(step * size, (step + 1) * size):
            epoch, index = divmod(position, n)
            if epoch not in self._orders:
                order = list(range(n))
                random.Random(self.config.seed * 100_003 + epoch).shuffle(order)
                self._orders = {epoch: order}
            out.append(self.train_problems[self._orders[epoch][index]])
        return out

    def train(self) -> dict:
        c, state = self.config, self.state
        started = time.time() - state["seconds"]
        if state["best"] is None:  # the base model's dev score: the bar every step must beat
            self._evaluate(started)
            self._save_last()
        bar = tqdm(total=c.steps, initial=state["step"], desc="rl", unit="step",
                   disable=None if self.progress is None else not self.progress)
        with bar:
            while state["step"] < c.steps:
                row = self.train_step(state["step"])
                state["step"] += 1
                state["seconds"] = time.time() - started
                row.update(step=state["step"], seconds=round(state["seconds"], 1), executed=state["executed"])
                self._log(row)
                bar.update(1)
                bar.set_postfix(reward=f"{row['reward']:.3f}", kl=f"{row['kl']:.4f}")
                if state["step"] % c.eval_every == 0 or state["step"] == c.steps:
                    self._evaluate(started)
                    self._save_last()
                    plot_rl_curves(self.run)
        summary = {"dev_metric": self.metric, "best_dev_score": state["best"], "best_step": state["best_step"],
                   "steps": state["step"],
                   "rl_seconds": round(state["seconds"], 1), "executed_programs": state["executed"],
                   "train_problems": len(self.train_problems), "excluded_problems": self.excluded,
                   "dev_problems": len(self.dev_problems), "base": str(self.base)}
        write_json(self.run / "summary.json", summary)
        return summary

    def train_step(self, step: int) -> dict:
        c = self.config
        problems = self.problems_at(step)
        rollout = roll_out(self.translator, problems, samples=c.samples, temperature=c.temperature,
                           max_steps=c.max_decode_steps, generator=self.generator, encoder=self.encoder)
        before = self.reward.executed
        scored = self.reward(problems, rollout.codes)
        self.state["executed"] += self.reward.executed - before
        rewards = torch.tensor([[s.reward for s in row] for row in scored])
        advantages = leave_one_out(rewards).reshape(-1)
        gold = None
        if self.gold:
            rows = [self.gold[p.id] for p in problems if p.id in self.gold]
            gold = collate(rows) if rows else None
        parts = rl_loss(self.policy, self.reference, collate(rollout.examples), advantages, c, encoder=self.encoder,
                        gold=gold)
        self.optimizer.zero_grad(set_to_none=True)
        parts.loss.backward()
        norm = torch.nn.utils.clip_grad_norm_([p for p in self.policy.parameters() if p.requires_grad], c.clip_norm)
        if not torch.isfinite(parts.loss) or not torch.isfinite(norm):
            raise TranxError(f"step {step + 1}: the loss or its gradient is not finite (loss {float(parts.loss)}, "
                             f"gradient norm {float(norm)}); lower rl.lr or rl.alpha")
        self.optimizer.step()
        outcomes: dict[str, int] = {}
        for row in scored:
            for s in row:
                outcomes[s.outcome] = outcomes.get(s.outcome, 0) + 1
        flat = [s for row in scored for s in row]
        return {"type": "train", "reward": float(rewards.mean()), "success": sum(s.success for s in flat) / len(flat),
                "outcomes": outcomes, "rejected": outcomes.get("rejected", 0),
                "no_code": sum(1 for row in rollout.codes for code in row if not code),
                "distinct_programs": sum(len(set(row)) for row in rollout.codes), "grad_norm": float(norm),
                **parts.stats}

    # --- dev, probes, checkpoints --------------------------------------------------------------------
    def dev_score(self) -> tuple[float, float]:
        """(the dev score that selects checkpoints, mean reward), greedy: the success rate in % (unit tests pass)
        for a task with unit tests, else the task's selection metric (corpus BLEU, exact match)."""
        intents = [p.intent for p in self.dev_problems]
        candidates = self.translator.translate(intents, beam_size=1, max_steps=self.config.max_decode_steps)
        codes = [found[0].code if found else "" for found in candidates]
        scored = self.reward(self.dev_problems, [[code] for code in codes])
        reward = sum(row[0].reward for row in scored) / len(scored)
        if self.task.unit_tests:
            return 100.0 * sum(row[0].success for row in scored) / len(scored), reward
        scores = task_scores(self.task, codes, [p.reference for p in self.dev_problems])
        return scores[self.task.selection_metric], reward

    def probe_probability(self, chunk: int = 32) -> float | None:
        """Mean probability the policy gives the correct action at the critical points of the probe set."""
        if not self.probes:
            return None
        total = 0.0
        with torch.no_grad():
            for start in range(0, len(self.probes), chunk):
                batch = collate(self.probes[start:start + chunk])
                log_probs = self.policy.teacher_forced(batch, self.encoder)[0].log_prob(batch.target.clamp(min=0))
                last = batch.step_mask.sum(1) - 1
                total += float(log_probs[torch.arange(len(last)), last].exp().sum())
        return total / len(self.probes)

    def _evaluate(self, started: float) -> None:
        state = self.state
        success, reward = self.dev_score()
        improved = state["best"] is None or success > state["best"]
        if improved:
            state.update(best=success, best_step=state["step"])
            best = Translator(self.translator.config, self.policy, task=self.translator.task,
                              language=self.translator.language)
            best.save_pretrained(self.run / "best")
        self._log({"type": "dev", "step": state["step"], "dev_score": round(success, 2), "dev_reward": round(reward, 4),
                   "probe_probability": self.probe_probability(), "executed": state["executed"],
                   "seconds": round(time.time() - started, 1)})
        tqdm.write(f"step {state['step']}: dev {self.metric} {success:.2f} (best {state['best']:.2f} at step "
                   f"{state['best_step']})")

    def _log(self, row: dict) -> None:
        with open(self.run / "metrics.jsonl", "a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")

    def _save_last(self) -> None:
        from safetensors.torch import save_file
        with atomic_folder(self.run / "last") as tmp:
            weights = {k: v.detach().contiguous() for k, v in self.policy.decoder.state_dict().items()}
            save_file(weights, os.fspath(tmp / "decoder.safetensors"))
            tensors, optimizer = optimizer_state(self.optimizer)
            tensors.update({"rng.torch": torch.get_rng_state(), "rng.sampler": self.generator.get_state()})
            save_file(tensors, os.fspath(tmp / "state.safetensors"))
            cache = [[k[0], k[1], *v] for k, v in getattr(self.reward, "cache", {}).items()]
            (tmp / "state.json").write_text(json.dumps({"progress": self.state, **optimizer, "verdicts": cache}),
                                            encoding="utf-8")

    def _load_last(self) -> None:
        from safetensors.torch import load_file
        folder = self.run / "last"
        try:
            meta = json.loads((folder / "state.json").read_text(encoding="utf-8"))
            self.policy.decoder.load_state_dict(load_file(os.fspath(folder / "decoder.safetensors")))
            tensors = load_file(os.fspath(folder / "state.safetensors"))
        except (OSError, ValueError, RuntimeError) as exc:
            raise TranxError(f"cannot resume from {folder}: {str(exc).splitlines()[0]}") from None
        restore_optimizer(self.optimizer, tensors, meta)
        for group in self.optimizer.param_groups:  # a changed rl.lr applies from here on
            group["lr"] = self.config.lr
        torch.set_rng_state(tensors["rng.torch"])
        self.generator.set_state(tensors["rng.sampler"])
        self.state = meta["progress"]
        if hasattr(self.reward, "cache"):
            self.reward.cache.update({(p, code): (outcome, passed) for p, code, outcome, passed in meta["verdicts"]})
        truncate_log(self.run / "metrics.jsonl", self.state["step"])


def load_rl_run(run: str | os.PathLike) -> tuple[str, RLConfig]:
    """(base run, RL config) of an RL run folder (its rl.json)."""
    path = Path(run) / "rl.json"
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TranxError(f"{run} is not an RL run: cannot read {path} ({exc})") from None
    if meta.get("format") != RL_FORMAT:
        raise TranxError(f"{path} is not an RL run description")
    return meta["base"], RLConfig.from_json({"rl": meta["rl"]}, source=str(path))


def plot_rl_curves(run: Path) -> None:
    """curves.png: training reward and KL per step, dev success and the probe probability per evaluation."""
    plt = pyplot()
    if plt is None:
        return
    train, dev = read_metrics(run / "metrics.jsonl")
    figure, axes = plt.subplots(1, 3, figsize=(14, 4))
    steps = [r["step"] for r in train]
    for key in ("reward", "success"):
        values = [r[key] for r in train]
        line, = axes[0].plot(steps, values, alpha=0.3)
        smooth = [sum(values[max(0, i - 9):i + 1]) / len(values[max(0, i - 9):i + 1]) for i in range(len(values))]
        axes[0].plot(steps, smooth, color=line.get_color(), label=f"{key} (mean of 10 steps)")
    axes[0].set(xlabel="step", title="training samples")
    axes[0].legend()
    axes[1].plot([r["step"] for r in train], [r["kl"] for r in train], label="KL (mean over steps)")
    axes[1].plot([r["step"] for r in train], [r["entropy"] for r in train], label="policy entropy")
    axes[1].set(xlabel="step", title="KL to the reference, entropy (nats)")
    axes[1].legend()
    axes[2].plot([r["step"] for r in dev], [r["dev_score"] for r in dev], marker="o", label="dev score")
    if any(r.get("probe_probability") is not None for r in dev):
        axes[2].plot([r["step"] for r in dev], [100 * (r["probe_probability"] or 0) for r in dev], marker="x",
                     label="p(correct critical action) %")
    axes[2].set(xlabel="step", title="held out")
    axes[2].legend()
    figure.tight_layout()
    save_figure(figure, run / "curves.png")
