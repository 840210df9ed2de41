"""Resumable training state without pickle: tensors in safetensors, everything else in JSON.

`save_training_state(folder, model, optimizer, scheduler, progress)` writes `last/` of a run: the
whole model's weights, the optimizer's tensors (flattened names) and its param groups, the torch RNG
state, `progress` (epoch, step, best score, ...) and the running weight average when there is one.
`load_training_state` puts them back; `read_progress` reads only `progress`. `optimizer_state` / `restore_optimizer`, `truncate_log` and `read_metrics` serve the RL
trainer's `last/` too.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from tranx.errors import TranxError
from tranx.io import atomic_folder, atomic_write_text


def save_training_state(folder: str | os.PathLike, model, optimizer, scheduler, progress: dict,
                        average=None) -> None:
    from safetensors.torch import save_file
    with atomic_folder(folder) as tmp:
        weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        save_file(weights, os.fspath(tmp / "model.safetensors"))
        tensors, optimizer_meta = optimizer_state(optimizer)
        tensors.update({"rng.torch": torch.get_rng_state(), **(average.tensors() if average is not None else {})})
        save_file(tensors, os.fspath(tmp / "optimizer.safetensors"))
        meta = {**optimizer_meta, "scheduler": scheduler.state_dict(), "progress": progress,
                "average_updates": average.updates if average is not None else None}
        (tmp / "state.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")


def load_training_state(folder: str | os.PathLike, model, optimizer, scheduler, average=None) -> dict:
    """Restore everything saved by `save_training_state` (and the weight average, when given); returns
    `progress`."""
    from safetensors.torch import load_file
    folder = Path(folder)
    try:
        meta = json.loads((folder / "state.json").read_text(encoding="utf-8"))
        model.load_state_dict(load_file(os.fspath(folder / "model.safetensors")))
        tensors = load_file(os.fspath(folder / "optimizer.safetensors"))
    except (OSError, ValueError, RuntimeError) as exc:
        raise TranxError(f"cannot resume from {folder}: {str(exc).splitlines()[0]}") from None
    restore_optimizer(optimizer, tensors, meta)
    scheduler.load_state_dict(meta["scheduler"])
    torch.set_rng_state(tensors["rng.torch"])
    if average is not None:
        if meta.get("average_updates") is None:
            raise TranxError(f"cannot resume from {folder}: it was trained without train.weight_average")
        try:
            average.load(tensors, meta["average_updates"])
        except ValueError as exc:
            raise TranxError(f"cannot resume from {folder}: {exc}") from None
    return meta["progress"]


def read_progress(folder: str | os.PathLike) -> dict | None:
    """The `progress` saved in `folder` (a run's last/) without loading any tensor, or None when there is none."""
    path = Path(folder) / "state.json"
    return json.loads(path.read_text(encoding="utf-8"))["progress"] if path.is_file() else None


def optimizer_state(optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """An optimizer's state without pickle: (tensors named `optimizer.<index>.<name>`, JSON-able
    {"param_groups", "scalars"})."""
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, values in state["state"].items():
        for name, value in values.items():
            if torch.is_tensor(value):
                tensors[f"optimizer.{index}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(index), {})[name] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def restore_optimizer(optimizer, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    """Inverse of `optimizer_state` (`tensors` may hold other entries too)."""
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    for index, values in meta["scalars"].items():
        state.setdefault(int(index), {}).update(values)
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def truncate_log(path: str | os.PathLike, step: int) -> None:
    """Drop the rows of a metrics.jsonl logged after `step` (a resumed run logs them again)."""
    path = Path(path)
    if path.is_file():
        rows = [line for line in path.read_text(encoding="utf-8").splitlines()
                if line.strip() and json.loads(line)["step"] <= step]
        atomic_write_text(path, "".join(row + "\n" for row in rows))


def read_metrics(path: str | os.PathLike) -> tuple[list[dict], list[dict]]:
    """(training rows, dev rows) of a run's metrics.jsonl."""
    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if r["type"] == "train"], [r for r in rows if r["type"] == "dev"]
