"""Losses, one file per kind; each module here registers itself.  ``build_loss(cfg)`` reads the ``type`` key.

Each loss class declares what it is to a model family, as class attributes read through the
registry (``srkit.models.base``), so that no family recognises a loss by its name:

- ``role``: ``'compare'`` (the default): ``loss(output, reference)`` on one of the targets the
  family offers; ``'adversarial'``: the family's GAN loss, called on the discriminator's outputs
  (``loss(pred, target_is_real, is_disc)``), with no target; one per family, and only in a family
  with a discriminator.
- ``outputs``: ``()`` (the default) when ``forward`` returns one value; else the names of the values
  of the tuple it returns, e.g. ``('percep', 'style')``: the first logs under the term's name, each
  other one under that name with the first name replaced by its own (``l_g_percep`` ->
  ``l_g_style``), or with ``_<its name>`` added.  A ``None`` value is not logged.
"""
from ..registry import LOSS_REGISTRY, import_all

import_all(__name__, __path__)


def build_loss(cfg, where: str = 'train.loss'):
    return LOSS_REGISTRY.build(cfg, where)
