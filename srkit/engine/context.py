"""What the trainer hands a model: its device, the distributed context and the log."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from .dist import DistContext


@dataclass
class EngineContext:
    device: torch.device
    dist: DistContext
    log: Callable[[str], None] = print
