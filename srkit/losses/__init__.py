"""Losses.  ``build_loss(cfg)`` reads the ``type`` key."""
from ..registry import LOSS_REGISTRY, build_from_config
from . import gan, perceptual, pixel  # noqa: F401  (registers)


def build_loss(cfg: dict, where: str = 'train.loss'):
    return build_from_config(LOSS_REGISTRY, cfg, where)
