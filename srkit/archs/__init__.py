"""Network architectures, one file per family.  ``build_network(cfg)`` reads the ``type`` key.

Every module in this folder is imported here, so an architecture file registers itself
without an edit to this file.
"""
from __future__ import annotations

from ..registry import ARCH_REGISTRY, import_all

import_all(__name__, __path__)


MAX_NETWORK_PARAMS = 1 << 30  # 4 GiB of float32 weights: 25x the largest released SR network


def build_network(cfg, where: str = 'network_g'):
    """Build a network from ``{type: Name, **kwargs}`` (or its parsed spec), the keys checked
    against the constructor; remembers its own config.

    The network is first built on the meta device (no memory, no init): a constructor's own
    refusal (``upscale 0``) and a size past :data:`MAX_NETWORK_PARAMS` values are one
    OptionError naming ``where``, before anything is allocated.

    ``net.srkit_config`` holds the config so checkpoints can record it and
    tools can rebuild the network without the YAML.
    """
    import torch
    from ..errors import OptionError
    spec = ARCH_REGISTRY.parse(cfg, where)
    try:
        with torch.device('meta'):
            net = ARCH_REGISTRY.build(spec, where)
            size = sum(p.numel() for p in net.state_dict().values())
    except OptionError:
        raise
    except RecursionError:
        raise OptionError(f'{where}: {spec.type} nested too deeply to build') from None
    except (TypeError, ValueError, RuntimeError, OverflowError, ZeroDivisionError, AssertionError) as e:
        detail = ' '.join(str(e).split())[:200] or type(e).__name__
        raise OptionError(f'{where}: {spec.type} cannot be built ({detail})') from None
    if size > MAX_NETWORK_PARAMS:
        raise OptionError(f'{where}: a {spec.type} of {size:,} values is over the limit of {MAX_NETWORK_PARAMS:,} '
                          '(4 GiB of weights); check its sizes')
    if torch.empty(0).device.type != 'meta':  # a caller already on the meta device keeps that one
        net = ARCH_REGISTRY.build(spec, where)
    net.srkit_config = spec.as_config()
    return net
