"""Build datasets and loaders from parsed options."""
from __future__ import annotations

import torch
from torch.utils.data import DataLoader

from ..errors import OptionError
from ..registry import DATASET_REGISTRY
from ..utils.device import usable_cpus
from .sampler import ResumableSampler


def build_dataset(opt):
    return DATASET_REGISTRY.get(opt.type)(opt)


def _worker_init(worker_id):
    # Samples draw from their own seeds; keep torch from oversubscribing the cores.
    torch.set_num_threads(1)


def loader_workers(requested: int) -> int:
    """``num_worker_per_gpu`` capped at the CPUs (:func:`srkit.utils.device.usable_cpus`): each
    worker is a forked process, and more of them than CPUs only adds memory and load (samples
    draw from their own seeds, so the batches do not depend on the count)."""
    return min(requested, usable_cpus())


# an epoch's sample order is held in memory (8 bytes a sample, and as much again to shuffle it)
MAX_EPOCH_SAMPLES = 1 << 26


def enlarge_ratio(opt, images: int) -> int:
    """``dataset_enlarge_ratio``, with traiNNer-redux's ``auto``: epochs of at least about 2,000
    batches, ``max(2000 * batch_size_per_gpu // images, 1)``, kept to :data:`MAX_EPOCH_SAMPLES`
    samples; a ratio that asks for more is one line naming it."""
    images = max(images, 1)
    if opt.dataset_enlarge_ratio == 'auto':
        return max(min(2000 * opt.batch_size_per_gpu // images, MAX_EPOCH_SAMPLES // images), 1)
    if images * opt.dataset_enlarge_ratio > MAX_EPOCH_SAMPLES:
        raise OptionError(f'datasets.train.dataset_enlarge_ratio: {opt.dataset_enlarge_ratio} times {images} images '
                          f'is {images * opt.dataset_enlarge_ratio:,} samples an epoch, over the '
                          f'{MAX_EPOCH_SAMPLES:,} an epoch may hold (its order is kept in memory); lower it')
    return opt.dataset_enlarge_ratio


def build_train_loader(opt, dataset, seed: int, rank: int = 0, world: int = 1, device='cpu'):
    sampler = ResumableSampler(len(dataset), seed, shuffle=opt.use_shuffle,
                               enlarge=enlarge_ratio(opt, len(dataset)), num_replicas=world, rank=rank)
    workers = loader_workers(opt.num_worker_per_gpu)
    loader = DataLoader(
        dataset, batch_size=opt.batch_size_per_gpu, sampler=sampler, num_workers=workers,
        drop_last=True, pin_memory=opt.pin_memory and torch.device(device).type == 'cuda',
        persistent_workers=False, worker_init_fn=_worker_init if workers else None,
        prefetch_factor=2 if workers else None,
        # each epoch's iterator draws a worker base seed; from its own generator, not the global
        # RNG, which the model's dropout draws from: a resumed run would otherwise be one draw off
        generator=torch.Generator().manual_seed(seed * 1000 + rank))
    return loader, sampler


def build_val_loader(opt, dataset, rank: int = 0, world: int = 1):
    # Each rank takes every world-th image; metrics are summed across ranks. No workers, as in
    # BasicSR: forking a worker at every validation from a process that holds gloo/NCCL threads
    # risks a deadlocked child, and batch-1 validation gains little from one.
    indices = list(range(rank, len(dataset), world))
    subset = torch.utils.data.Subset(dataset, indices)
    return DataLoader(subset, batch_size=1, shuffle=False, num_workers=0)
