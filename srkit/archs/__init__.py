"""Network architectures.  ``build_network(cfg)`` reads the ``type`` key."""
from __future__ import annotations

import copy

from ..registry import ARCH_REGISTRY, build_from_config
from . import cgan, discriminators, dsgan, rrdbnet, srresnet, translation  # noqa: F401  (registers)


def build_network(cfg: dict, where: str = 'network_g'):
    """Build a network from ``{type: Name, **kwargs}``; remembers its own config.

    ``net.srkit_config`` holds the config so checkpoints can record it and
    tools can rebuild the network without the YAML.
    """
    net = build_from_config(ARCH_REGISTRY, cfg, where)
    net.srkit_config = copy.deepcopy(dict(cfg))
    return net
