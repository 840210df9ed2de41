"""An exponential moving average of the trainable weights (Polyak averaging), for evaluation and saving.

Late in training the weights still wander between minibatches; their running average sits nearer the
middle of that region and usually decodes better than any single step's weights. `WeightAverage`
keeps the average beside the model; `with average.applied():` swaps it in (for the dev evaluation
and for saving `best/`) and puts the training weights back afterwards.

The decay warms up as min(decay, (1 + n) / (10 + n)) after n updates, so the first steps' random
weights are forgotten quickly.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn

from tranx.errors import TranxError

PREFIX = "average."  # names of the averaged tensors inside the training state


class WeightAverage:
    def __init__(self, model: nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise TranxError(f"train.weight_average must be in (0, 1), or 0 for off; got {decay}")
        self.decay = decay
        self.updates = 0
        self._params = {name: p for name, p in model.named_parameters() if p.requires_grad}
        self._average = {name: p.detach().clone() for name, p in self._params.items()}

    def current_decay(self) -> float:
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self) -> None:
        """Fold the weights after an optimizer step into the average."""
        keep = self.current_decay()
        for name, param in self._params.items():
            self._average[name].lerp_(param.detach(), 1.0 - keep)
        self.updates += 1

    @contextmanager
    def applied(self):
        """Put the averaged weights into the model for the duration of the block."""
        saved = {name: p.detach().clone() for name, p in self._params.items()}
        with torch.no_grad():
            for name, param in self._params.items():
                param.copy_(self._average[name])
        try:
            yield
        finally:
            with torch.no_grad():
                for name, param in self._params.items():
                    param.copy_(saved[name])

    def tensors(self) -> dict[str, torch.Tensor]:
        return {PREFIX + name: value.contiguous() for name, value in self._average.items()}

    def load(self, tensors: dict[str, torch.Tensor], updates: int) -> None:
        missing = [name for name in self._average if PREFIX + name not in tensors]
        if missing:
            raise ValueError(f"the saved training state has no averaged weights for {missing[0]}")
        for name in self._average:
            self._average[name].copy_(tensors[PREFIX + name])
        self.updates = updates
