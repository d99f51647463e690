"""Losses, one file per kind; each module here registers itself.  ``build_loss(cfg)`` reads the ``type`` key."""
from ..registry import LOSS_REGISTRY, import_all

import_all(__name__, __path__)


def build_loss(cfg, where: str = 'train.loss'):
    return LOSS_REGISTRY.build(cfg, where)
