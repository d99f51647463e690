"""The machine a tool runs on: the one place a device name from an option or flag becomes a
``torch.device``, and how many worker processes a tool may start."""
from __future__ import annotations

from typing import Optional

import torch

from ..errors import OptionError
from . import naming


def check_device(text: str, what: Optional[str] = None) -> torch.device:
    """``text`` (``cpu``, ``cuda``, ``cuda:N``, ``mps``) as a device this machine has, or one line
    naming ``what``: a CUDA device where torch finds no CUDA, or an index past the last GPU, would
    otherwise end in a driver traceback at the first tensor moved there."""
    what = what or naming.name('device')  # the field as the caller names it (a command line: its flag)
    try:
        dev = torch.device(text)
    except (RuntimeError, ValueError, TypeError):
        raise OptionError(f'{what}: expected cpu, cuda or cuda:N, got {text!r}') from None
    if dev.type == 'cuda':
        if not torch.cuda.is_available():
            raise OptionError(f'{what}: {text}, but CUDA is not available here (no NVIDIA driver or GPU, or a '
                              'CPU-only torch); use cpu')
        n = torch.cuda.device_count()
        if dev.index is not None and dev.index >= n:
            raise OptionError(f'{what}: {text}, but this machine has {n} CUDA device(s) (cuda:0 to cuda:{n - 1})')
    elif dev.type == 'mps':
        if not torch.backends.mps.is_available():
            raise OptionError(f'{what}: {text}, but Apple MPS is not available here; use cpu')
    elif dev.type != 'cpu':
        raise OptionError(f'{what}: expected cpu, cuda or cuda:N, got {text!r}')
    return dev


def pick_device(text: Optional[str] = None, what: Optional[str] = None, *, num_gpu=None,
                local_rank: Optional[int] = None) -> torch.device:
    """The device named by ``text`` (checked, ``what`` naming it in errors), else CUDA when there
    is one and ``num_gpu`` is not 0, else the CPU.  Under distributed training (``local_rank``
    given) a CUDA device without an index is this process's own GPU, ``cuda:<local_rank>``."""
    if text:
        dev = check_device(text, what)
    else:
        dev = torch.device('cuda' if num_gpu != 0 and torch.cuda.is_available() else 'cpu')
    if dev.type == 'cuda' and dev.index is None and local_rank is not None:
        dev = torch.device('cuda', local_rank)
    return dev


MAX_WORKERS = 256  # worker processes any option or flag may ask for; the CPUs cap it further


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, else the machine's count)."""
    import os
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def cap_workers(requested: int, what: Optional[str] = None) -> tuple[int, Optional[str]]:
    """``(workers to start, a note when capped)``: ``requested`` checked to be in
    ``[1, MAX_WORKERS]``, then capped at :func:`usable_cpus` (each worker is a forked process;
    more than the CPUs only adds memory and load, and a huge count would fork the machine to a
    halt)."""
    what = what or naming.name('workers')  # the field as the caller names it (a command line: its flag)
    if not 1 <= requested <= MAX_WORKERS:
        raise OptionError(f'{what}: must be from 1 to {MAX_WORKERS}, got {requested}')
    cpus = usable_cpus()
    if requested > cpus:
        return cpus, f'{what} {requested} capped at {cpus}, the CPUs this process may use'
    return requested, None
