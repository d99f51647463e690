"""Per-iteration learning-rate schedulers (BasicSR names and semantics)."""
from __future__ import annotations

import math
from collections import Counter

from torch.optim.lr_scheduler import LRScheduler

from ..errors import OptionError
from ..registry import SCHEDULER_REGISTRY


@SCHEDULER_REGISTRY.register(name='MultiStepLR')
@SCHEDULER_REGISTRY.register()
class MultiStepRestartLR(LRScheduler):
    """Multiply the lr by ``gamma`` at each milestone (iterations); optional restarts.

    Args:
        milestones: iterations at which the lr is multiplied by ``gamma`` (a milestone listed
            twice multiplies twice); required.
        gamma: the factor at each milestone (default 0.1; BasicSR's recipes: 0.5).
        restarts: iterations at which the lr restarts from its initial value times the matching
            ``restart_weights`` entry (default [0]: none).
        restart_weights: the initial lr's factor at each restart, one per ``restarts`` entry
            (default [1]).
    """

    def __init__(self, optimizer, milestones: list, gamma: float = 0.1, restarts: list = (0,),
                 restart_weights: list = (1,), last_epoch: int = -1):
        self.milestones = Counter(milestones)
        self.gamma = gamma
        self.restarts = list(restarts)
        self.restart_weights = list(restart_weights)
        if len(self.restarts) != len(self.restart_weights):
            raise OptionError('train.scheduler: restarts and restart_weights differ in length')
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        it = self.last_epoch
        if it in self.restarts:
            w = self.restart_weights[self.restarts.index(it)]
            return [g['initial_lr'] * w for g in self.optimizer.param_groups]
        if it not in self.milestones:
            return [g['lr'] for g in self.optimizer.param_groups]
        return [g['lr'] * self.gamma ** self.milestones[it] for g in self.optimizer.param_groups]


@SCHEDULER_REGISTRY.register()
class CosineAnnealingRestartLR(LRScheduler):
    """Cosine annealing in cycles of ``periods`` iterations, each restarted at
    ``initial_lr * restart_weight`` and annealed to ``eta_min``.

    Args:
        periods: the length of each cycle, in iterations (their sum is usually ``total_iter``);
            required.
        restart_weights: the initial lr's factor at the start of each cycle, one per ``periods``
            entry (default [1]).
        eta_min: the lr at the end of each cycle (default 0).
    """

    def __init__(self, optimizer, periods: list, restart_weights: list = (1,), eta_min: float = 0.0,
                 last_epoch: int = -1):
        self.periods = list(periods)
        self.restart_weights = list(restart_weights)
        self.eta_min = eta_min
        if len(self.periods) != len(self.restart_weights):
            raise OptionError('train.scheduler: periods and restart_weights differ in length')
        self.cumulative = [sum(self.periods[: i + 1]) for i in range(len(self.periods))]
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        it = self.last_epoch
        idx = next((i for i, c in enumerate(self.cumulative) if it <= c), len(self.cumulative) - 1)
        start = self.cumulative[idx - 1] if idx > 0 else 0
        w, period = self.restart_weights[idx], self.periods[idx]
        return [self.eta_min + w * 0.5 * (base - self.eta_min) * (1 + math.cos(math.pi * (it - start) / period))
                for base in self.base_lrs]


@SCHEDULER_REGISTRY.register()
class LinearDecayLR(LRScheduler):
    """Constant lr until ``decay_start``, then linear to ``end_factor`` at ``total_iter``
    (pix2pix/CycleGAN's schedule, counted in iterations instead of epochs).

    Args:
        decay_start: the iteration at which the linear decay starts; required.
        total_iter: the iteration at which the lr reaches ``end_factor`` times its initial value,
            > ``decay_start``; required.
        end_factor: the initial lr's factor at ``total_iter`` and after (default 0).
    """

    def __init__(self, optimizer, decay_start: int, total_iter: int, end_factor: float = 0.0,
                 last_epoch: int = -1):
        if total_iter <= decay_start:
            raise OptionError('train.scheduler.total_iter: must exceed decay_start')
        self.decay_start, self.total_iter, self.end_factor = decay_start, total_iter, end_factor
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        t = min(max(self.last_epoch - self.decay_start, 0) / (self.total_iter - self.decay_start), 1.0)
        f = 1.0 - (1.0 - self.end_factor) * t
        return [base * f for base in self.base_lrs]


@SCHEDULER_REGISTRY.register()
class CosineAnnealingWarmupLR(LRScheduler):
    """Linear warmup from 0 over ``warmup_iters`` iterations, then one cosine from the initial lr
    down to ``eta_min_ratio`` times it at ``total_iters`` (and there after): traiNNer-redux's
    ``CosineAnnealingWarmupLR``.

    Args:
        total_iters: the iteration at which the cosine ends, > 0; required.
        warmup_iters: the warmup's length in iterations, >= 0 (default 0: none).
        eta_min_ratio: the final lr as a fraction of the initial lr (default 0.1).
    """

    def __init__(self, optimizer, total_iters: int, warmup_iters: int = 0, eta_min_ratio: float = 0.1,
                 last_epoch: int = -1):
        if total_iters < 1 or warmup_iters < 0:
            raise OptionError('train.scheduler: total_iters must be >= 1 and warmup_iters >= 0')
        self.total_iters, self.warmup_iters, self.eta_min_ratio = total_iters, warmup_iters, eta_min_ratio
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        it, warm = self.last_epoch, self.warmup_iters
        if it < warm:
            f = it / max(1, warm)
        else:
            t = min(1.0, (it - warm) / max(1, self.total_iters - warm))
            f = self.eta_min_ratio + (1 - self.eta_min_ratio) * (1 + math.cos(math.pi * t)) / 2
        return [base * f for base in self.base_lrs]


def build_scheduler(optimizer, cfg, where: str = 'train.scheduler'):
    """``cfg`` (a spec or ``{type, **kwargs}``) stepping ``optimizer``."""
    return SCHEDULER_REGISTRY.build(cfg, where, optimizer)
