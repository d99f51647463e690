"""A resumable, DDP-aware sampler that hands every sample its own RNG seed.

Each item is ``(index, seed)``: the seed derives from ``(base_seed, epoch,
position)``, so crops, flips and degradations depend on neither the worker
that ran them nor on any worker RNG state.  Resuming therefore only needs the
epoch and the position inside it, both derivable from the iteration.
"""
from __future__ import annotations

import numpy as np
from torch.utils.data import Sampler


class ResumableSampler(Sampler):
    def __init__(self, num_items: int, seed: int, shuffle: bool = True, enlarge: int = 1,
                 num_replicas: int = 1, rank: int = 0):
        self.num_items = num_items
        self.seed = seed
        self.shuffle = shuffle
        self.enlarge = enlarge
        self.num_replicas = num_replicas
        self.rank = rank
        total = num_items * enlarge
        self.per_replica = -(-total // num_replicas)  # ceil, padded like DistributedSampler
        self.epoch = 0
        self.start = 0  # position inside the epoch (in this replica's items)

    def __len__(self):
        return self.per_replica - self.start

    def set_epoch(self, epoch: int, start: int = 0):
        self.epoch = epoch
        self.start = start

    def _order(self) -> np.ndarray:
        total = self.num_items * self.enlarge
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(total)
        else:
            order = np.arange(total)
        pad = self.per_replica * self.num_replicas - total
        if pad:
            order = np.concatenate([order, order[:pad]])
        return order[self.rank::self.num_replicas] % self.num_items

    def __iter__(self):
        order = self._order()
        for pos in range(self.start, self.per_replica):
            seed = (self.seed, self.epoch, self.rank, pos)
            yield int(order[pos]), seed
