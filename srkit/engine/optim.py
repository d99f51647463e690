"""Optimizers: torch's own classes, registered by name; their constructors are the schema.

``train.optim_g: {type: Adam, lr: 2e-4, betas: [0.9, 0.99]}`` takes exactly the
keyword arguments of ``torch.optim.Adam`` (less the implementation switches:
``foreach``, ``fused``, ``capturable``, ``differentiable``, ``maximize``), with
torch's defaults, as BasicSR passes them.
"""
from __future__ import annotations

import torch

from ..errors import OptionError
from ..registry import OPTIMIZER_REGISTRY

for _cls in (torch.optim.Adam, torch.optim.AdamW, torch.optim.SGD, torch.optim.RMSprop, torch.optim.Adamax,
             torch.optim.NAdam, torch.optim.RAdam, torch.optim.Adagrad):
    OPTIMIZER_REGISTRY.register(_cls)


def _adamw_schedule_free():
    """Defazio et al.'s schedule-free AdamW from the ``schedulefree`` package (traiNNer-redux's
    ``AdamWScheduleFree``): no learning-rate schedule; the networks are switched to its averaged
    weights for validation and checkpoints (``BaseModel.evaluation_weights``)."""
    from schedulefree import AdamWScheduleFree
    return AdamWScheduleFree


OPTIMIZER_REGISTRY.register_lazy('AdamWScheduleFree', _adamw_schedule_free)


def build_optimizer(params, cfg, where: str) -> torch.optim.Optimizer:
    """``cfg`` (a spec or mapping) over ``params``; torch's own value checks become one line."""
    try:
        return OPTIMIZER_REGISTRY.build(cfg, where, params)
    except ValueError as e:  # torch: 'Invalid beta parameter at index 0: 1.5'
        raise OptionError(f'{where}: {e}') from None
