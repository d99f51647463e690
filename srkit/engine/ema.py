"""Exponential moving average of a network's parameters *and* buffers (torch's AveragedModel)."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


def warmup_decay(decay: float, power: float, step: int, after: int = 0) -> float:
    """The decay of update ``step`` (1-based) under ema-pytorch's warm-up, as traiNNer-redux's
    ``ema_power`` and ``ema_update_after_step`` set it: 0 (a copy of the weights) up to update
    ``after + 1``, then ``min(decay, 1 - (step - after) ** -power)``; 0.75 reaches 0.999 after
    about 10,000 updates, and traiNNer-redux's default 10 at once."""
    k = step - after
    if k <= 1:
        return 0.0
    return min(decay, 1.0 - k ** -power)


class EMA:
    """``ema = decay * ema + (1 - decay) * net`` after every optimizer step, on every floating
    tensor of the state dict (BatchNorm's running statistics too), through
    :class:`torch.optim.swa_utils.AveragedModel`; integer buffers such as
    ``num_batches_tracked`` are copied.  The average starts from the network's weights
    as they are (BasicSR's ``model_ema``), so the first update already averages.

    With ``power`` (traiNNer-redux's ``ema_power``) the decay warms up as ema-pytorch's does
    (:func:`warmup_decay` of the update's iteration): the first updates copy, later ones
    approach ``decay``; the iteration comes from the trainer, so a resumed run goes on with the
    same decays.
    """

    def __init__(self, net: nn.Module, decay: float, power: Optional[float] = None, after: int = 0):
        self.decay = decay
        self.power = power
        self.after = after
        self.net = net
        self._now = decay
        self.averaged = AveragedModel(net, multi_avg_fn=self._lerp, use_buffers=True)
        self.averaged.n_averaged.fill_(1)  # AveragedModel would copy at its first update
        self.module = self.averaged.module.eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        src, dst = net.state_dict(keep_vars=True), self.module.state_dict(keep_vars=True)
        self._ints = [(src[k].detach(), dst[k]) for k in src if not src[k].dtype.is_floating_point]

    def _lerp(self, ema, current, n):
        get_ema_multi_avg_fn(self._now)(ema, current, n)

    def decay_at(self, step: Optional[int]) -> float:
        """The decay of the update after iteration ``step`` (constant without ``power``)."""
        if step is None:
            return self.decay
        if self.power is None:  # BasicSR's constant decay, after ema_update_after_step copies
            return 0.0 if step <= self.after else self.decay
        return warmup_decay(self.decay, self.power, step, self.after)

    @torch.no_grad()
    def update(self, step: Optional[int] = None) -> None:
        self._now = self.decay_at(step)
        self.averaged.update_parameters(self.net)
        for s, d in self._ints:  # AveragedModel averages these too; a count is copied
            d.copy_(s)

    def state_dict(self):
        return self.module.state_dict()

    def load_state_dict(self, sd):
        self.module.load_state_dict(sd)
