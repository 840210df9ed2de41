"""Resumable training state without pickle: tensors in safetensors, everything else in JSON.

`save_training_state(folder, model, optimizer, scheduler, progress)` writes `last/` of a run: the
whole model's weights, the optimizer's tensors (flattened names) and its param groups, the torch RNG
state, `progress` (epoch, step, best score, ...) and the running weight average when there is one.
`load_training_state` puts them back.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from tranx.errors import TranxError
from tranx.io import atomic_folder


def save_training_state(folder: str | os.PathLike, model, optimizer, scheduler, progress: dict,
                        average=None) -> None:
    from safetensors.torch import save_file
    with atomic_folder(folder) as tmp:
        weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        save_file(weights, os.fspath(tmp / "model.safetensors"))
        state = optimizer.state_dict()
        tensors = {"rng.torch": torch.get_rng_state(), **(average.tensors() if average is not None else {})}
        scalars: dict[str, dict] = {}
        for index, values in state["state"].items():
            for name, value in values.items():
                if torch.is_tensor(value):
                    tensors[f"optimizer.{index}.{name}"] = value.detach().cpu().contiguous()
                else:
                    scalars.setdefault(str(index), {})[name] = value
        save_file(tensors, os.fspath(tmp / "optimizer.safetensors"))
        meta = {"param_groups": state["param_groups"], "scalars": scalars,
                "scheduler": scheduler.state_dict(), "progress": progress,
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
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    for index, values in meta["scalars"].items():
        state.setdefault(int(index), {}).update(values)
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
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
