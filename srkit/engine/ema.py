"""Exponential moving average of a network's parameters *and* buffers (torch's AveragedModel)."""
from __future__ import annotations

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


class EMA:
    """``ema = decay * ema + (1 - decay) * net`` after every optimizer step, on every floating
    tensor of the state dict (BatchNorm's running statistics too), through
    :class:`torch.optim.swa_utils.AveragedModel`; integer buffers such as
    ``num_batches_tracked`` are copied.  The average starts from the network's weights
    as they are (BasicSR's ``model_ema``), so the first update already averages.
    """

    def __init__(self, net: nn.Module, decay: float):
        self.decay = decay
        self.net = net
        self.averaged = AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
        self.averaged.n_averaged.fill_(1)  # AveragedModel would copy at its first update
        self.module = self.averaged.module.eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        src, dst = net.state_dict(keep_vars=True), self.module.state_dict(keep_vars=True)
        self._ints = [(src[k].detach(), dst[k]) for k in src if not src[k].dtype.is_floating_point]

    @torch.no_grad()
    def update(self) -> None:
        self.averaged.update_parameters(self.net)
        for s, d in self._ints:  # AveragedModel averages these too; a count is copied
            d.copy_(s)

    def state_dict(self):
        return self.module.state_dict()

    def load_state_dict(self, sd):
        self.module.load_state_dict(sd)
