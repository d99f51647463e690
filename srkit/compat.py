"""The one place srkit imports basicsr, and small shims for other libraries.

basicsr 1.4.2 still imports ``torchvision.transforms.functional_tensor``, which
torchvision removed in 0.17; we alias it to ``functional`` (where
``rgb_to_grayscale``, the only name basicsr uses, now lives) before importing.
"""
from __future__ import annotations

import contextlib
import importlib
import os
import sys


def _alias_functional_tensor() -> None:
    name = 'torchvision.transforms.functional_tensor'
    if name not in sys.modules:
        try:
            importlib.import_module(name)
        except ImportError:
            import torchvision.transforms.functional as F
            sys.modules[name] = F


def import_basicsr(module: str = 'basicsr'):
    """Import ``module`` (e.g. ``'basicsr.archs.srresnet_arch'``) from basicsr."""
    _alias_functional_tensor()
    return importlib.import_module(module)


@contextlib.contextmanager
def quiet_stdout():
    """Silence libraries that print progress to stdout (pyiqa's 'Loading pretrained model')."""
    with open(os.devnull, 'w') as devnull, contextlib.redirect_stdout(devnull):
        yield
