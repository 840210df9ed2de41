"""Supervised training: batches of oracle actions, AdamW with warm-up and clipping, dev-set selection.

A run folder holds `config.json`, `vocab/` (built from the training split), `metrics.jsonl` (one JSON
object per logged step and per dev evaluation, for plotting), `curves.png`, `best/` (the best
Translator by the dev metric: the task's `selection_metric`) and `last/`
(everything needed to resume: `tranx train --resume RUN`). With `train.weight_average` the dev set is
decoded, and best/ saved, with the moving average of the weights (tranx.training.averaging).

Left out: the model (tranx.nn.model), search (tranx.decoding.search), RL fine-tuning.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections import Counter
from contextlib import nullcontext
from pathlib import Path

import torch
from tqdm import tqdm

from preprocess.tasks import get_task
from preprocess.words import model_words

from tranx.training.averaging import WeightAverage
from tranx.training.checkpoint import load_training_state, read_metrics, save_training_state, truncate_log
from tranx.config import Config
from tranx.data.examples import collate, tensorize
from tranx.errors import TranxError
from tranx.evaluation.evaluate import predict
from tranx.evaluation.scoring import task_scores
from tranx.io import pyplot, save_figure, write_json
from tranx.nn.model import TranxModel, build_encoder
from tranx.threads import set_threads
from tranx.grammar.transition import TransitionSystem
from tranx.translator import Translator
from tranx.data.vocab import IntentPieces, Vocab, typed_primitive_vocab

LOG_EVERY = 20  # training steps between metrics-log lines


def prepare_run(config: Config, run: Path):
    """Preprocess the data set, build (or reload) the vocabulary, and build the model."""
    from tranx.data.pipeline import preprocess_dataset, split_examples, task_language
    t = config.train
    task = get_task(t.dataset)
    result = preprocess_dataset(t.dataset, t.data_root, substitution=t.substitution, language=t.language,
                                splits=["train"])
    train = result.kept("train")[:t.train_limit] if t.train_limit else result.kept("train")
    dev_raw = split_examples(t.dataset, t.data_root, splits=["dev"])["dev"]
    dev_raw = dev_raw[:t.dev_limit] if t.dev_limit else dev_raw
    language = task_language(t.dataset, t.data_root, t.language)
    grammar = language.grammar
    vocab_path = run / "vocab" / "primitive.json"
    if vocab_path.is_file():
        tokens = Vocab.load(vocab_path)
    else:
        cutoff = task.token_cutoff if t.token_cutoff is None else t.token_cutoff
        tokens = typed_primitive_vocab(TransitionSystem(grammar), (e.actions for e in train), cutoff=cutoff)
        tokens.save(vocab_path)
    pieces_path = None
    if config.model.encoder == "lstm":
        pieces_path = run / "vocab" / "intent.model"
        if not pieces_path.is_file():
            IntentPieces.train([e.canonical_intent for e in train],
                               vocab_size=task.intent_vocab_size).save(run / "vocab")
    train_words = [model_words(e.words, t.split_dotted_words) for e in train]
    words = None
    if config.model.word_embed_size:
        words_path = run / "vocab" / "words.json"
        if words_path.is_file():
            words = Vocab.load(words_path)
        else:
            counts = Counter(w for units in train_words for w in units)
            words = Vocab.from_counts(counts, cutoff=config.model.word_vocab_cutoff, name="words")
            words.save(words_path)
    model = TranxModel(config.model, grammar, tokens, build_encoder(config.model, pieces_path and str(pieces_path)),
                       words, token_ok=language.token_ok)
    if t.retrieve:  # each pair reads its nearest other pairs' code (never its own answer)
        from tranx.data.retrieval import RetrievalIndex
        slot_names = [[s["name"] for s in e.slots] for e in train]
        model.retrieval = RetrievalIndex.build(train_words, slot_names, [e.canonical_code for e in train], language,
                                               t.retrieve)
        train_words = [model.retrieval.augment(units, names, exclude=i)
                       for i, (units, names) in enumerate(zip(train_words, slot_names))]
    examples = [tensorize(units, e.actions, model.system, model.tables, copy=config.model.copy)
                for units, e in zip(train_words, train)]
    return model, examples, dev_raw


def _batches(examples: list, batch_size: int, seed: int) -> list[list]:
    """Shuffled batches of similar length (less padding), in a shuffled order."""
    rng = random.Random(seed)
    order = list(range(len(examples)))
    rng.shuffle(order)
    pool = batch_size * 20
    batches = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start:start + pool], key=lambda i: examples[i].length)
        batches += [[examples[i] for i in chunk[j:j + batch_size]] for j in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


class Trainer:
    def __init__(self, config: Config, run: str | Path, *, resume: bool = False, progress: bool | None = None):
        self.config, self.run, self.progress = config, Path(run), progress
        t = config.train
        set_threads(t.threads)
        torch.manual_seed(t.seed)
        random.seed(t.seed)
        if not resume:
            if (self.run / "last").exists():
                raise TranxError(f"{self.run} already holds a run; resume it with --resume or pick another --out")
            write_json(self.run / "config.json", config.to_json())
            (self.run / "metrics.jsonl").unlink(missing_ok=True)  # a run killed before its first checkpoint
        self.task = get_task(t.dataset)
        self.model, self.examples, self.dev = prepare_run(config, self.run)
        from tranx.data.pipeline import task_language
        # the language prepare_run built the model on (cached)
        self.language = task_language(t.dataset, t.data_root, t.language)
        if not self.examples:
            raise TranxError("no training examples")
        self.encoder = None
        if not config.model.finetune_encoder and config.model.encoder != "lstm":
            from tranx.nn.encoding_cache import EncodingCache  # frozen BERT: encode every intent once
            self.encoder = EncodingCache(self.model.encoder)
            self.encoder.add([e.words for e in self.examples])
        decoder_params = [p for n, p in self.model.named_parameters() if not n.startswith("encoder.")]
        groups = [{"params": decoder_params, "lr": t.lr, "name": "decoder"}]
        encoder_lr = t.lr if config.model.encoder == "lstm" else t.encoder_lr
        groups += self.model.encoder.parameter_groups(encoder_lr)
        self.optimizer = torch.optim.AdamW(groups, weight_decay=t.weight_decay)
        self.steps_per_epoch = math.ceil(len(self.examples) / t.batch_size)
        total = self.steps_per_epoch * t.max_epochs
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: min(1.0, (s + 1) / max(1, t.warmup_steps)) * max(0.05, 1 - s / total))
        self.average = WeightAverage(self.model, t.weight_average) if t.weight_average else None
        self.progress_state = {"epoch": 0, "step": 0, "best": None, "best_epoch": None, "bad_epochs": 0,
                               "seconds": 0.0}
        if resume:
            self.progress_state = load_training_state(self.run / "last", self.model, self.optimizer, self.scheduler,
                                                      self.average)
            truncate_log(self.run / "metrics.jsonl", self.progress_state["step"])

    # --- logging ----------------------------------------------------------------------------------
    def log(self, row: dict) -> None:
        with open(self.run / "metrics.jsonl", "a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")

    def evaluate(self) -> dict:
        translator = Translator(self.config, self.model, task=self.task, language=self.language)
        rows = predict(translator, self.dev, beam_size=self.config.train.eval_beam_size, progress=False)
        return task_scores(self.task, [r["prediction"] for r in rows], [e.code for e in self.dev])

    # --- the loop ---------------------------------------------------------------------------------
    def train(self) -> dict:
        t, state = self.config.train, self.progress_state
        metric = self.task.selection_metric
        started = time.time() - state["seconds"]
        while state["epoch"] < t.max_epochs:
            epoch = state["epoch"] + 1
            self.model.train()
            batches = _batches(self.examples, t.batch_size, t.seed * 1000 + epoch)
            bar = tqdm(batches, desc=f"epoch {epoch}", unit="batch", disable=None if self.progress is None
                       else not self.progress, leave=False)
            running, running_steps = 0.0, 0
            for batch in bar:
                nll, steps = self.model.loss(collate(batch), self.encoder)
                loss = nll.mean()
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), t.clip_norm)
                self.optimizer.step()
                self.scheduler.step()
                if self.average is not None:
                    self.average.update()
                state["step"] += 1
                running += nll.sum().item()
                running_steps += steps.sum().item()
                if state["step"] % LOG_EVERY == 0:
                    per_action = running / max(running_steps, 1)
                    self.log({"type": "train", "epoch": epoch, "step": state["step"], "loss": round(loss.item(), 4),
                              "nll_per_action": round(per_action, 4), "lr": self.scheduler.get_last_lr()[0],
                              "seconds": round(time.time() - started, 1)})
                    bar.set_postfix(nll=f"{per_action:.3f}")
                    running, running_steps = 0.0, 0
            state["epoch"] = epoch
            state["seconds"] = time.time() - started
            if epoch % t.eval_every == 0 or epoch == t.max_epochs:
                with self.average.applied() if self.average is not None else nullcontext():
                    scores = self.evaluate()
                    improved = state["best"] is None or scores[metric] > state["best"]
                    if improved:
                        state.update(best=scores[metric], best_epoch=epoch, bad_epochs=0)
                        Translator(self.config, self.model, task=self.task,
                                   language=self.language).save_pretrained(self.run / "best")
                if not improved:
                    state["bad_epochs"] += 1
                self.log({"type": "dev", "epoch": epoch, "step": state["step"], **scores,
                          "seconds": round(time.time() - started, 1)})
                elapsed = time.time() - started
                left = (t.max_epochs - epoch) * elapsed / epoch  # at most: early stopping may end sooner
                tqdm.write(f"epoch {epoch}/{t.max_epochs}: dev {metric} {scores[metric]:.2f} (best {state['best']:.2f} "
                           f"at epoch {state['best_epoch']}), {elapsed / 60:.1f} min, ETA {left / 60:.1f} min")
            state["seconds"] = time.time() - started
            save_training_state(self.run / "last", self.model, self.optimizer, self.scheduler, state,
                                self.average)
            plot_curves(self.run)
            if state["bad_epochs"] >= t.patience:
                tqdm.write(f"early stop: no dev improvement for {t.patience} evaluations")
                break
            per_epoch = state["seconds"] / max(epoch, 1)
            if t.max_minutes and state["seconds"] + per_epoch > t.max_minutes * 60:
                tqdm.write(f"time budget of {t.max_minutes} min reached")
                break
        summary = {"best_" + metric: state["best"], "best_epoch": state["best_epoch"], "epochs": state["epoch"],
                   "train_seconds": round(state["seconds"], 1), "train_examples": len(self.examples),
                   "unscorable_steps": sum(e.unscorable for e in self.examples),
                   "train_steps": sum(e.length for e in self.examples),
                   "examples_per_second": round(len(self.examples) * state["epoch"] / max(state["seconds"], 1e-9), 2)}
        write_json(self.run / "summary.json", summary)
        return summary


def plot_curves(run: Path) -> None:
    """curves.png: training NLL per action and the dev metrics, from metrics.jsonl."""
    plt = pyplot()
    if plt is None:
        return
    train, dev = read_metrics(run / "metrics.jsonl")
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot([r["step"] for r in train], [r["nll_per_action"] for r in train])
    left.set(xlabel="step", ylabel="train NLL per action", title="training loss")
    for key in ("bleu", "exact_match"):
        right.plot([r["epoch"] for r in dev], [r.get(key, 0) for r in dev], marker="o", label=key)
    right.set(xlabel="epoch", ylabel="dev score", title="dev set")
    right.legend()
    figure.tight_layout()
    save_figure(figure, run / "curves.png")
