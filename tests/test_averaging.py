"""The moving average of the weights: known values, swapping in and out, and its place in a training run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from model_fixtures import skip_without_data
from tranx.training.averaging import PREFIX, WeightAverage
from tranx.cli import main
from tranx.config import load_config
from tranx.errors import TranxError
from tranx.training.train import Trainer

ROOT = Path(__file__).resolve().parents[1]
TINY = str(ROOT / "configs" / "tiny.json")


def _model() -> nn.Module:
    model = nn.Linear(2, 1)
    model.weight.data = torch.tensor([[1.0, 2.0]])
    model.bias.data = torch.tensor([0.0])
    return model


def test_average_follows_the_warmed_up_decay():
    model = _model()
    average = WeightAverage(model, decay=0.5)
    assert average.current_decay() == pytest.approx(0.1)  # (1 + 0) / (10 + 0): the start is forgotten fast
    model.weight.data = torch.tensor([[3.0, 4.0]])
    average.update()  # 0.1 * [1, 2] + 0.9 * [3, 4]
    assert average.tensors()[PREFIX + "weight"][0].tolist() == pytest.approx([2.8, 3.8])
    for _ in range(20):
        average.update()
    assert average.current_decay() == 0.5 and average.updates == 21


def test_applied_swaps_the_average_in_and_the_training_weights_back():
    model = _model()
    average = WeightAverage(model, decay=0.9)
    model.weight.data.copy_(torch.tensor([[5.0, 6.0]]))
    average.update()
    expected = 0.1 * torch.tensor([[1.0, 2.0]]) + 0.9 * torch.tensor([[5.0, 6.0]])
    with average.applied():
        assert torch.allclose(model.weight, expected)
    assert model.weight.tolist() == [[5.0, 6.0]]
    with pytest.raises(RuntimeError), average.applied():
        raise RuntimeError("an evaluation that fails")
    assert model.weight.tolist() == [[5.0, 6.0]]  # restored even then


def test_frozen_parameters_are_not_averaged_and_state_round_trips():
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    model[0].requires_grad_(False)
    average = WeightAverage(model, decay=0.9)
    assert set(average.tensors()) == {PREFIX + "1.weight", PREFIX + "1.bias"}
    with torch.no_grad():
        model[1].weight.add_(1.0)
    average.update()
    copy = WeightAverage(model, decay=0.9)
    copy.load(average.tensors(), average.updates)
    assert copy.updates == 1
    assert all(torch.equal(a, b) for a, b in zip(copy.tensors().values(), average.tensors().values()))
    with pytest.raises(ValueError, match="1.bias"):
        copy.load({PREFIX + "1.weight": model[1].weight.detach()}, 1)


@pytest.mark.parametrize("decay", [1.0, -0.1, 1.5])
def test_bad_decay_is_a_clear_error(decay):
    with pytest.raises(TranxError, match="train.weight_average"):
        WeightAverage(_model(), decay)


# --- in a training run --------------------------------------------------------------------------------

SMALL = ["train.train_limit=64", "train.dev_limit=4", "train.eval_beam_size=1", "train.batch_size=16",
         "--threads", "1"]


def _train(*argv) -> None:
    skip_without_data("conala")
    assert main(["train", *[str(a) for a in argv]]) == 0


def test_best_is_saved_with_the_averaged_weights_and_resume_continues_the_average(tmp_path):
    whole, split = tmp_path / "whole", tmp_path / "split"
    _train(TINY, "train.max_epochs=2", "train.patience=5", "train.weight_average=0.9", *SMALL, "--out", whole)
    last = load_file(str(whole / "last" / "optimizer.safetensors"))
    raw = load_file(str(whole / "last" / "model.safetensors"))
    state = json.loads((whole / "last" / "state.json").read_text())
    assert state["average_updates"] == state["progress"]["step"] == 8  # 64 examples / 16, two epochs
    decoder = sorted(k for k in raw if k.startswith("decoder.") and k.endswith("weight"))
    assert decoder and all(not torch.equal(last[PREFIX + k], raw[k]) for k in decoder)  # not the last step's

    # the same run stopped after its first epoch (time budget), then resumed: the average continues exactly
    _train(TINY, "train.max_epochs=2", "train.max_minutes=0.00001", "train.patience=5", "train.weight_average=0.9",
           *SMALL, "--out", split)
    saved = load_file(str(split / "last" / "optimizer.safetensors"))
    best = load_file(str(split / "best" / "model.safetensors"))  # one epoch: best/ is that epoch
    assert all(torch.equal(best[k.removeprefix("decoder.")], saved[PREFIX + k]) for k in decoder)
    trainer = Trainer(load_config(split / "config.json"), split, resume=True, progress=False)
    assert trainer.average.updates == 4
    assert all(torch.equal(value, saved[key]) for key, value in trainer.average.tensors().items())
    assert main(["train", "--resume", str(split), "train.max_minutes=null", "--threads", "1"]) == 0
    resumed = load_file(str(split / "last" / "optimizer.safetensors"))
    assert json.loads((split / "last" / "state.json").read_text())["average_updates"] == 8
    assert all(torch.equal(resumed[k], last[k]) for k in last if k.startswith(PREFIX))


def test_resuming_without_a_saved_average_is_a_clear_error(tmp_path, capsys):
    folder = tmp_path / "plain"
    _train(TINY, "train.max_epochs=1", *SMALL, "--out", folder)
    capsys.readouterr()
    assert main(["train", "--resume", str(folder), "train.max_epochs=2", "train.weight_average=0.9",
                 "--threads", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "without train.weight_average" in err[0] and str(folder) in err[0]
