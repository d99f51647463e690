"""Network architectures, one file per family.  ``build_network(cfg)`` reads the ``type`` key.

Every module in this folder is imported here, so an architecture file registers itself
without an edit to this file.
"""
from __future__ import annotations

from ..registry import ARCH_REGISTRY, import_all

import_all(__name__, __path__)


def build_network(cfg, where: str = 'network_g'):
    """Build a network from ``{type: Name, **kwargs}`` (or its parsed spec), the keys checked
    against the constructor; remembers its own config.

    ``net.srkit_config`` holds the config so checkpoints can record it and
    tools can rebuild the network without the YAML.
    """
    spec = ARCH_REGISTRY.parse(cfg, where)
    net = ARCH_REGISTRY.build(spec, where)
    net.srkit_config = spec.as_config()
    return net
