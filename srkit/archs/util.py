"""Building blocks shared by architecture files (BasicSR-compatible names)."""
from __future__ import annotations

import re
from typing import Optional

import torch
from torch import nn
from torch.nn import init


class Arch(nn.Module):
    """What every registered architecture declares about itself, as spandrel's and timm's
    model files do: ``scale`` (output size / input size), ``size_multiple`` (input height
    and width must be multiples of it), ``value_range`` (its images' range, in and out).
    A generator that tools load from a bare state dict also declares ``detect(sd)``
    (its constructor arguments from key names and shapes, or None when the keys are not
    its own) and ``convert_keys(sd)`` (other projects' layouts of it to its own keys);
    ``adapt_state_dict`` fixes up a file for one built instance.  ``train_channels_last``: whether
    it trains faster in channels-last memory layout (the default of ``train.channels_last``)."""

    scale = 1
    size_multiple = 1
    value_range = (0.0, 1.0)
    train_channels_last = True

    @classmethod
    def detect(cls, sd: dict) -> Optional[dict]:
        return None

    @classmethod
    def convert_keys(cls, sd: dict) -> dict:
        return sd

    def adapt_state_dict(self, sd: dict) -> dict:
        return sd


def max_index(sd: dict, prefix: str) -> int:
    """1 + the largest N among keys ``<prefix>N.`` (a Sequential's length), 0 if none."""
    idx = [int(m.group(1)) for k in sd if (m := re.match(re.escape(prefix) + r'(\d+)\.', k))]
    return max(idx) + 1 if idx else 0


@torch.no_grad()
def default_init_weights(modules, scale: float = 1.0, bias_fill: float = 0.0) -> None:
    """Kaiming-normal init scaled by ``scale`` (small residual branches train stably)."""
    if isinstance(modules, nn.Module):
        modules = [modules]
    for module in modules:
        for m in module.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                init.kaiming_normal_(m.weight)
                m.weight.mul_(scale)
                if m.bias is not None:
                    m.bias.fill_(bias_fill)
            elif isinstance(m, nn.modules.batchnorm._BatchNorm):
                init.constant_(m.weight, 1)
                if m.bias is not None:
                    m.bias.fill_(bias_fill)


class ResidualBlockNoBN(nn.Module):
    """conv-ReLU-conv plus identity, no BN.  Keys: ``conv1``, ``conv2``."""

    def __init__(self, num_feat: int = 64, res_scale: float = 1.0, pytorch_init: bool = False):
        super().__init__()
        self.res_scale = res_scale
        self.conv1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.relu = nn.ReLU(inplace=True)
        if not pytorch_init:
            default_init_weights([self.conv1, self.conv2], 0.1)

    def forward(self, x):
        out = self.conv2(self.relu(self.conv1(x)))
        return x + out * self.res_scale if self.res_scale != 1 else x + out


def make_layer(block, n: int, **kwargs) -> nn.Sequential:
    return nn.Sequential(*[block(**kwargs) for _ in range(n)])
