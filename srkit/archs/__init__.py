"""Network architectures, one file per family.  ``build_network(cfg)`` reads the ``type`` key.

Every module in this folder is imported here, so an architecture file registers itself
without an edit to this file.
"""
from __future__ import annotations

from ..registry import ARCH_REGISTRY, import_all

import_all(__name__, __path__)


MAX_NETWORK_PARAMS = 1 << 30  # 4 GiB of float32 weights: 25x the largest released SR network


# what the probe lets a constructor do before it calls the network too large: 13x the torch calls
# the largest preset (dat_2_l) makes, and twice the weights the limit allows
MAX_PROBE_CALLS = 500_000


class _TooLarge(Exception):
    pass


def _probe_mode():
    """A mode in which tensor factories allocate nothing large: a tensor of up to 64K values is
    made on the CPU (constructors read such values back: a drop-path schedule's ``.item()``, a
    window's index table), anything larger on the meta device, so a network's size can be
    counted before it is built.  A constructor past :data:`MAX_PROBE_CALLS` torch calls or twice
    :data:`MAX_NETWORK_PARAMS` values is stopped (:class:`_TooLarge`): sizes in the options
    (``depths: [1000] * 60``) must not make the check itself run for minutes."""
    from torch.overrides import TorchFunctionMode
    from torch.utils._device import _device_constructors
    import torch

    factories = _device_constructors()

    class Probe(TorchFunctionMode):
        calls = values = 0

        def __torch_function__(self, func, types, args=(), kwargs=None):
            self.calls += 1
            if self.calls > MAX_PROBE_CALLS:
                raise _TooLarge(f'takes more than {MAX_PROBE_CALLS:,} operations to construct: too large to build')
            kwargs = dict(kwargs or {})
            if func in factories and kwargs.get('device') is None:
                t = func(*args, **{**kwargs, 'device': 'meta'})
                if isinstance(t, torch.Tensor):
                    self.values += t.numel()
                    if self.values > 2 * MAX_NETWORK_PARAMS:
                        raise _TooLarge(f'of more than {2 * MAX_NETWORK_PARAMS:,} values is over the limit of '
                                        f'{MAX_NETWORK_PARAMS:,} (4 GiB of weights)')
                    if t.numel() <= 1 << 16:
                        return func(*args, **{**kwargs, 'device': 'cpu'})
                return t
            return func(*args, **kwargs)
    return Probe()


def trains_channels_last(cfg) -> bool:
    """Whether the architecture ``cfg`` names (a class or a preset of one) trains faster in
    channels-last layout (:attr:`Arch.train_channels_last`), without building it."""
    built = ARCH_REGISTRY.get(cfg['type'] if isinstance(cfg, dict) else cfg.type)
    return bool(getattr(getattr(built, 'target', built), 'train_channels_last', True))


def build_network(cfg, where: str = 'network_g'):
    """Build a network from ``{type: Name, **kwargs}`` (or its parsed spec), the keys checked
    against the constructor; remembers its own config.

    The network is first built with its large tensors on the meta device (no memory, no init,
    :func:`_probe_mode`): a constructor's own refusal (``upscale 0``) and a size past
    :data:`MAX_NETWORK_PARAMS` values are one OptionError naming ``where``, before anything large
    is allocated.  A caller inside ``torch.device('meta')`` gets that probe.

    ``net.srkit_config`` holds the config so checkpoints can record it and
    tools can rebuild the network without the YAML.
    """
    import torch
    from ..errors import OptionError
    spec = ARCH_REGISTRY.parse(cfg, where)
    try:
        # the probe draws the small tensors' initial values: the random streams are put back
        with torch.random.fork_rng(devices=[]), _probe_mode():
            net = ARCH_REGISTRY.build(spec, where)
            size = sum(p.numel() for p in net.state_dict().values())
    except OptionError:
        raise
    except _TooLarge as e:
        raise OptionError(f'{where}: a {spec.type} {e}; check its sizes') from None
    except RecursionError:
        raise OptionError(f'{where}: {spec.type} nested too deeply to build') from None
    except (TypeError, ValueError, RuntimeError, OverflowError, ZeroDivisionError, AssertionError, KeyError,
            IndexError, NotImplementedError) as e:
        detail = ' '.join(str(e).split())[:200] or type(e).__name__
        raise OptionError(f'{where}: {spec.type} cannot be built ({detail})') from None
    if size > MAX_NETWORK_PARAMS:
        raise OptionError(f'{where}: a {spec.type} of {size:,} values is over the limit of {MAX_NETWORK_PARAMS:,} '
                          '(4 GiB of weights); check its sizes')
    if torch.empty(0).device.type != 'meta':  # a caller already on the meta device keeps that one
        net = ARCH_REGISTRY.build(spec, where)
    net.srkit_config = spec.as_config()
    return net
