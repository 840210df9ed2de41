"""The reconstructor: p(intent | code), a small attentional sequence model that reads a program and scores how
well it explains the intent (Yin & Neubig 2019, "Reranking for neural semantic parsing": a candidate that drops
or swaps what the intent says explains it worse, whatever the parser's own probability).

Both sides are official evaluation tokens (`tranx.metrics.tokenize_for_bleu_eval`), lowercased. The code is read by
a bidirectional LSTM; an LSTM decoder with attention (Luong's, without input feeding, so that a batch of
candidates is scored in one pass per layer rather than one per word) writes the intent, each word either generated
from the intent vocabulary or copied from the code's tokens (a pointer-generator mix), so that names the code
uses and the intent repeats (`strip_tags`, slot values) need no vocabulary entry. `log_likelihood` is the sum
over the intent's tokens: among candidates of one intent the sum compares like with like (same tokens scored).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from tranx.data.vocab import Vocab
from tranx.errors import CheckpointError, TranxError
from tranx.io import atomic_folder
from tranx.metrics import tokenize_for_bleu_eval

__all__ = ["Reconstructor", "reconstruction_tokens"]

BOS, EOS = "<s>", "</s>"
FORMAT, FORMAT_VERSION = "tranx-reconstructor", 1


def reconstruction_tokens(text: str) -> list[str]:
    """What the reconstructor reads and writes: the official evaluation tokens, lowercased."""
    return [t.lower() for t in tokenize_for_bleu_eval(text)]


class Reconstructor(nn.Module):
    def __init__(self, code_vocab: Vocab, intent_vocab: Vocab, *, embed_size: int = 128, hidden_size: int = 256,
                 dropout: float = 0.3):
        super().__init__()
        if hidden_size % 2:
            raise ValueError(f"hidden_size must be even (two directions), got {hidden_size}")
        for name in (BOS, EOS):
            if name not in intent_vocab:
                raise ValueError(f"the intent vocabulary needs {name}")
        self.code_vocab, self.intent_vocab = code_vocab, intent_vocab
        self.sizes = {"embed_size": embed_size, "hidden_size": hidden_size, "dropout": dropout}
        self.code_embed = nn.Embedding(len(code_vocab), embed_size, padding_idx=code_vocab.pad_id)
        self.encoder = nn.LSTM(embed_size, hidden_size // 2, batch_first=True, bidirectional=True)
        self.intent_embed = nn.Embedding(len(intent_vocab), embed_size, padding_idx=intent_vocab.pad_id)
        self.decoder = nn.LSTM(embed_size, hidden_size, batch_first=True)
        self.attend = nn.Linear(hidden_size, hidden_size, bias=False)
        self.combine = nn.Linear(2 * hidden_size, hidden_size, bias=False)
        self.readout = nn.Linear(hidden_size, len(intent_vocab))
        self.copy_gate = nn.Linear(hidden_size, 1)
        self.dropout = nn.Dropout(dropout)

    def batch(self, codes: Sequence[Sequence[str]], intents: Sequence[Sequence[str]]) -> dict:
        """Tensors for pairs of token lists: code ids [B, S] and their mask; the decoder's inputs (<s> + intent) and
        gold tokens (intent + </s>), [B, T] with T the longest intent + 1, and their mask; which code positions hold
        each gold token [B, T, S] (the copy sources)."""
        if len(codes) != len(intents):
            raise ValueError(f"{len(codes)} programs but {len(intents)} intents")
        codes = [list(c) or [EOS] for c in codes]  # an empty program still has one position to attend to
        targets = [[*i, EOS] for i in intents]
        width, length = max(map(len, codes)), max(map(len, targets))
        pad_code, pad_intent = self.code_vocab.pad_id, self.intent_vocab.pad_id
        code_ids = torch.tensor([self.code_vocab.encode(c) + [pad_code] * (width - len(c)) for c in codes])
        inputs = torch.tensor([self.intent_vocab.encode([BOS, *t[:-1]]) + [pad_intent] * (length - len(t))
                               for t in targets])
        gold = torch.tensor([self.intent_vocab.encode(t) + [pad_intent] * (length - len(t)) for t in targets])
        copies = torch.zeros(len(codes), length, width, dtype=torch.bool)
        for b, (code, target) in enumerate(zip(codes, targets)):
            where: dict[str, list[int]] = {}
            for j, token in enumerate(code):
                where.setdefault(token, []).append(j)
            for t, token in enumerate(target):
                copies[b, t, where.get(token, [])] = True
        target_mask = torch.zeros(len(codes), length, dtype=torch.bool)
        for b, t in enumerate(targets):
            target_mask[b, :len(t)] = True
        return {"code": code_ids, "code_mask": code_ids != pad_code, "inputs": inputs, "gold": gold,
                "copies": copies, "target_mask": target_mask}

    def token_log_probs(self, batch: dict) -> torch.Tensor:
        """log p of each target token [B, T] (0 at padding), teacher-forced: every step at once (no input feeding:
        the decoder LSTM reads the previous words only, and attention is taken over its states in parallel)."""
        code_mask = batch["code_mask"]
        memory = self._run(self.encoder, self.dropout(self.code_embed(batch["code"])), code_mask)  # [B, S, H]
        states = self._run(self.decoder, self.dropout(self.intent_embed(batch["inputs"])), batch["target_mask"])
        scores = torch.einsum("bth,bsh->bts", states, self.attend(memory))
        attention = scores.masked_fill(~code_mask[:, None, :], float("-inf")).softmax(-1)  # [B, T, S]
        context = torch.einsum("bts,bsh->bth", attention, memory)
        feature = self.dropout(torch.tanh(self.combine(torch.cat([states, context], -1))))
        gold = batch["gold"]
        generated = self.readout(feature).log_softmax(-1).gather(2, gold[..., None]).squeeze(-1)  # [B, T]
        copyable = batch["copies"]
        can_copy = copyable.any(-1)
        minus_inf = torch.full_like(generated, float("-inf"))
        # an unknown word is only generated as <unk> when it cannot be copied: copying names it exactly
        generated = torch.where(can_copy & (gold == self.intent_vocab.unk_id), minus_inf, generated)
        copied = torch.where(can_copy, attention.masked_fill(~copyable, 0.0).sum(-1).clamp(min=1e-12).log(), minus_inf)
        gate = self.copy_gate(feature).squeeze(-1)
        mixed = torch.logaddexp(nn.functional.logsigmoid(gate) + copied, nn.functional.logsigmoid(-gate) + generated)
        return mixed.masked_fill(~batch["target_mask"], 0.0)

    @staticmethod
    def _run(lstm: nn.LSTM, inputs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """`lstm` over padded `inputs` [B, L, E] (rows of `mask.sum(1)` positions), zeros after each row's end."""
        lengths = mask.sum(1).clamp(min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(inputs, lengths, batch_first=True, enforce_sorted=False)
        out, _ = lstm(packed)
        return nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=mask.shape[1])[0]

    def log_likelihood(self, codes: Sequence[str], intents: Sequence[str], batch_size: int = 64) -> list[float]:
        """log p(intent | code) of each (raw) pair, summed over the intent's tokens and </s>; no gradients. Pairs
        are batched by length (padding does not change a score, only the time taken)."""
        if len(codes) != len(intents):
            raise ValueError(f"{len(codes)} programs but {len(intents)} intents")
        pairs = [(reconstruction_tokens(c), reconstruction_tokens(i)) for c, i in zip(codes, intents)]
        order = sorted(range(len(pairs)), key=lambda k: (len(pairs[k][1]), len(pairs[k][0])))
        out = [0.0] * len(pairs)
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                for start in range(0, len(order), batch_size):
                    rows = order[start:start + batch_size]
                    chunk = self.batch([pairs[k][0] for k in rows], [pairs[k][1] for k in rows])
                    for k, value in zip(rows, self.token_log_probs(chunk).sum(1).tolist()):
                        out[k] = value
        finally:
            self.train(was_training)
        return out

    # --- checkpoints: config.json, vocab/code.json, vocab/intent.json, model.safetensors ----------------------
    def save_pretrained(self, folder: str | os.PathLike, trained: dict | None = None) -> None:
        """Write the folder atomically; `trained`: what it was trained on (kept in config.json, read by people)."""
        from safetensors.torch import save_file
        with atomic_folder(folder) as tmp:
            meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "sizes": self.sizes, "trained": trained or {}}
            (tmp / "config.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
            self.code_vocab.save(tmp / "vocab" / "code.json")
            self.intent_vocab.save(tmp / "vocab" / "intent.json")
            weights = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
            save_file(weights, os.fspath(tmp / "model.safetensors"), metadata={"format": "pt"})

    @staticmethod
    def run_summary(folder: str | os.PathLike) -> dict | None:
        """The summary.json of a reconstructor run folder (its training time, epochs, ...), or None for a bare
        checkpoint folder: result files record it, since run folders do not travel."""
        path = Path(folder) / "summary.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike) -> "Reconstructor":
        from safetensors import SafetensorError
        from safetensors.torch import load_file
        folder = Path(folder)
        if (folder / "best").is_dir():  # a tranx reconstructor run: its best epoch
            folder = folder / "best"
        for name in ("config.json", "vocab/code.json", "vocab/intent.json", "model.safetensors"):
            if not (folder / name).is_file():
                raise CheckpointError(f"{folder} is not a reconstructor (tranx reconstructor --out): {name} is missing")
        try:
            meta = json.loads((folder / "config.json").read_text(encoding="utf-8"))
            if not isinstance(meta, dict) or meta.get("format") != FORMAT:
                raise CheckpointError(f"{folder}/config.json is not a reconstructor config")
            if meta.get("format_version") != FORMAT_VERSION:
                raise CheckpointError(f"{folder}: reconstructor format version {meta.get('format_version')} is not "
                                      f"supported (this tranx reads version {FORMAT_VERSION})")
            model = cls(Vocab.load(folder / "vocab" / "code.json"), Vocab.load(folder / "vocab" / "intent.json"),
                        **meta["sizes"])
            model.load_state_dict(load_file(os.fspath(folder / "model.safetensors")))
        except (TranxError, SafetensorError, RuntimeError, ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"cannot load the reconstructor {folder}: {str(exc).splitlines()[0]}") from None
        model.trained = meta.get("trained", {})
        return model.eval()
