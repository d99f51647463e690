"""The option sections every recipe shares: datasets' common keys, ``train``, ``val``, ``logger``,
``path``, ``dist``, and a degradation pipeline's options checked like a section.

The per-family parts are assembled in :mod:`srkit.options`; the machinery these sections are built
with (:class:`~srkit.config.schema.Schema`, the scalar types, validation) is
:mod:`srkit.config.schema`, which imports nothing from here.
"""
from __future__ import annotations

from typing import Literal, Optional, Union


from ..errors import OptionError
from .schema import Bool, Float, Int, IntIn, Schema, Str, check_name, check_path, fields_model, validate

MAX_ITER = 10 ** 10  # iterations: a thousand years at 300 it/s
MAX_SIZE = 16384  # an image side an option may ask for (a crop, a resize)

_DEGRADATIONS: dict[str, type] = {}


def check_degradation(method: str, kwargs: dict, where: str) -> None:
    """A degradation pipeline's options (``degradations.option_types``) checked like every other
    section: unknown keys and wrong types are one line naming ``where.key``."""
    from degradations import option_types
    if method not in _DEGRADATIONS:
        _DEGRADATIONS[method] = fields_model(f'{method}Degradation', option_types(method), base=Schema,
                                             int_bounds=(0, MAX_SIZE))  # kernel sizes, tiles: image sides
    validate(_DEGRADATIONS[method], kwargs, where)


class IOBackend(Schema):
    """``io_backend:``: where a dataset's images are stored.

    Attributes:
        type: ``disk`` (image files in folders, the default) or ``lmdb`` (folders packed by
            ``srkit-lmdb``; each ``dataroot_*`` is then an ``.lmdb`` folder).
    """

    type: Literal['disk', 'lmdb'] = 'disk'


class DatasetOptions(Schema):
    """Keys every dataset accepts; each dataset class subclasses this with its own.

    Attributes:
        name: the set's name in logs and validation folders; a relative name without ``..``
            (default ``dataset``).
        type: the dataset class (``PairedImageDataset`` ...), one of those registered.
        phase: ``train``, ``val`` or ``test``; set from the key under ``datasets:`` (``train`` for
            ``train``, else ``val``) when not given.
        io_backend: where the images are stored: ``{type: disk}`` (default) or ``{type: lmdb}``.
        num_worker_per_gpu: loader worker processes per GPU (per process on CPU), 0 to 256, capped
            at the CPU count; 0 loads in the training process (default 2).
        batch_size_per_gpu: images per batch on each GPU or process, 1 to 65536 (default 1).
        dataset_enlarge_ratio: how many times each epoch repeats the set, 1 to 1e6 (default 1), so
            that a small set fills a long epoch; ``auto`` (traiNNer-redux's): epochs of at least
            about 2,000 batches.
        prefetch_mode: BasicSR's ``cpu``/``cuda`` prefetching, accepted and ignored: srkit's loader
            always prefetches in workers and copies from pinned memory (default none).
        pin_memory: page-locked batches for faster copies to the GPU (default true; no effect on CPU).
        use_shuffle: shuffle the training set each epoch, reproducibly from ``manual_seed``
            (default true).
        scale: the upscaling factor, copied from the top-level ``scale`` (a different value is refused).
    """

    name: Str = 'dataset'
    type: Str = ''
    phase: Literal['train', 'val', 'test'] = 'train'
    io_backend: IOBackend = IOBackend()
    # loader processes: more than 256 (utils.device.MAX_WORKERS) is refused, more than the CPUs capped
    num_worker_per_gpu: IntIn(0, 256) = 2
    batch_size_per_gpu: IntIn(1, 65536) = 1
    dataset_enlarge_ratio: Union[IntIn(1, 1_000_000), Literal['auto']] = 1
    # BasicSR's prefetch modes load unchanged: srkit's loader always prefetches in workers
    # and, on CUDA, copies from pinned memory without blocking
    prefetch_mode: Optional[Literal['cpu', 'cuda']] = None
    pin_memory: Bool = True
    use_shuffle: Bool = True
    scale: Int = 1  # the top-level `scale`, copied in

    def check(self, path):
        check_name(self.name, f'{path}.name')
        if self.batch_size_per_gpu < 1:
            raise OptionError(f'{path}.batch_size_per_gpu: must be >= 1, got {self.batch_size_per_gpu}')
        if self.num_worker_per_gpu < 0:
            raise OptionError(f'{path}.num_worker_per_gpu: must be >= 0')
        if self.dataset_enlarge_ratio != 'auto' and self.dataset_enlarge_ratio < 1:
            raise OptionError(f'{path}.dataset_enlarge_ratio: must be >= 1')


class TrainOptions(Schema):
    """``train:`` keys every family shares; srkit.options adds the family's optimizers
    (``optim_<net>``), its BasicSR loss keys (``pixel_opt`` ...), ``losses`` and ``scheduler``.

    Attributes:
        total_iter: training iterations (optimizer steps), 1 to 1e10; required.
        ema_decay: decay of the exponential moving average of the generator's weights, in [0, 1);
            0 (default) keeps no EMA; BasicSR's recipes use 0.999.
        ema_power: the EMA's warm-up (traiNNer-redux's key, ema-pytorch's ``power``): the decay of
            the update after iteration ``k`` is ``min(ema_decay, 1 - k ** -ema_power)`` and the first
            update copies the weights, so an EMA of a network trained from scratch does not lag
            behind its first iterations; 0.75 reaches 0.999 after about 10,000 iterations; > 0;
            default: none, BasicSR's constant decay.
        ema_update_after_step: the EMA copies the weights, without averaging, for this many
            iterations first (ema-pytorch's ``update_after_step``; default 0).
        warmup_iter: iterations over which the learning rate rises linearly from 0; -1 (default) or
            0: no warmup.
        amp: mixed precision: ``none`` (fp32, default), ``bf16`` or ``fp16`` (with a gradient scaler);
            for GPUs.
        channels_last: networks and batches in channels-last memory layout; default: channels-last
            (measured fastest on CPU and GPU) unless a network trains faster without it (PLKSR and
            RealPLKSR: their large kernels' gradients take 9-12x longer in it on CPU).
        compile: run the networks through ``torch.compile`` (default false).
        tf32: TF32 matrix products and convolutions on NVIDIA GPUs (traiNNer-redux's
            ``fast_matmul``): faster, about 3 decimal digits less exact; no effect on the CPU
            (default false).
        grad_clip: clip each optimizer's gradients to this global L2 norm, > 0; default: no clipping.
        accum_iter: batches whose gradients add up before each optimizer step, 1 to 65536 (default
            1); the effective batch is ``accum_iter * batch_size_per_gpu`` per GPU.
        nonfinite: what a non-finite loss or gradient does: ``stop`` (default; the last finite
            checkpoint is kept) or ``skip_step`` (that optimizer step is skipped and counted).
        optim_<net>: the optimizer of network ``<net>``: ``{type: Adam, lr: 1e-4, ...}``, a
            ``torch.optim`` class and its keyword arguments; required for each network trained.
        <loss>_opt: BasicSR's key for the family's ``<loss>`` loss term, one loss section
            (``{type: ..., loss_weight: ...}``) on the target the family gives the key; leave it out
            for no such term.
        losses: more loss terms as a list, each ``{type, target, name, ...}`` on any target the
            family offers, added to the ``*_opt`` keys' terms; default: the family's own defaults
            (from its weights, e.g. ``lambda_l1``).
        scheduler: the learning-rate schedule stepped every iteration: ``{type: MultiStepLR,
            milestones: [...], gamma: 0.5}``, ``CosineAnnealingRestartLR`` or ``LinearDecayLR``;
            default: a constant rate.
    """

    total_iter: IntIn(1, MAX_ITER)
    ema_decay: Float = 0.0
    ema_power: Optional[Float] = None
    ema_update_after_step: IntIn(0, MAX_ITER) = 0
    warmup_iter: Int = -1
    # precision and layout: fp32 + channels_last measured fastest on CPU
    # (scripts/bench/train_step.py, docs/benchmarks.md); bf16/fp16 are for GPUs
    amp: Literal['none', 'bf16', 'fp16'] = 'none'
    channels_last: Optional[Bool] = None
    compile: Bool = False
    tf32: Bool = False
    grad_clip: Optional[Float] = None  # max global L2 norm of each optimizer's gradients
    accum_iter: IntIn(1, 65536) = 1  # batches whose gradients add up before each optimizer step
    # a non-finite loss or gradient: stop (keeping the last finite checkpoint) or skip that step
    nonfinite: Literal['stop', 'skip_step'] = 'stop'

    def check(self, path):
        if self.total_iter < 1:
            raise OptionError(f'{path}.total_iter: must be >= 1, got {self.total_iter}')
        if not 0.0 <= self.ema_decay < 1.0:
            raise OptionError(f'{path}.ema_decay: must be in [0, 1), got {self.ema_decay}')
        if self.ema_power is not None and not self.ema_power > 0:
            raise OptionError(f'{path}.ema_power: must be > 0 (leave it out for a constant decay), '
                              f'got {self.ema_power}')
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise OptionError(f'{path}.grad_clip: must be > 0 (leave it out for no clipping), got {self.grad_clip}')
        if self.accum_iter < 1:
            raise OptionError(f'{path}.accum_iter: must be >= 1, got {self.accum_iter}')

    @property
    def optimizers(self) -> dict:
        """``{net: optimizer spec}`` from the ``optim_<net>`` keys."""
        return {k[len('optim_'):]: v for k, v in self if k.startswith('optim_') and v is not None}


class GANTrainOptions(TrainOptions):
    """SRGAN/ESRGAN's schedule: G updates every ``net_d_iters`` iterations, D alone for the first
    ``net_d_init_iters``.

    Attributes:
        net_d_iters: update the generator every this many iterations, >= 1 (default 1: every one).
        net_d_init_iters: iterations at the start that train only the discriminator (default 0).
    """

    net_d_iters: Int = 1
    net_d_init_iters: Int = 0

    def check(self, path):
        super().check(path)
        if self.net_d_iters < 1:
            raise OptionError(f'{path}.net_d_iters: must be >= 1, got {self.net_d_iters}')


class MetricOptions(Schema):
    """A validation metric: BasicSR's function names (``calculate_psnr``, ``calculate_ssim``,
    ``calculate_niqe``) or pyiqa's (``psnr``, ``ssim``, ``niqe``, ``lpips``).  NIQE is on Y
    (``test_y_channel`` does not apply); LPIPS on RGB, its weights from the torch hub cache.

    Attributes:
        type: the metric: ``calculate_psnr``/``psnr``, ``calculate_ssim``/``ssim``,
            ``calculate_niqe``/``niqe`` (no reference) or ``lpips``.
        crop_border: pixels cut from each border of both images before scoring, >= 0 (default 0;
            BasicSR's recipes use the scale).
        test_y_channel: score PSNR/SSIM on the Y channel of YCbCr, as SR papers report, instead of
            RGB (default true).
        better: which way the best value is kept: ``higher`` or ``lower``; default: the metric's own
            (higher for PSNR/SSIM, lower for NIQE/LPIPS).
    """

    type: Literal['calculate_psnr', 'calculate_ssim', 'calculate_niqe', 'psnr', 'ssim', 'niqe', 'lpips']
    crop_border: Int = 0
    test_y_channel: Bool = True
    better: Optional[Literal['higher', 'lower']] = None  # which way the best value is kept (default: the metric's)

    @property
    def kind(self) -> str:
        return self.type.replace('calculate_', '')

    @property
    def higher_is_better(self) -> bool:
        if self.better is not None:
            return self.better == 'higher'
        return self.kind in ('psnr', 'ssim')


class ValOptions(Schema):
    """``val:``: validation on every ``datasets`` entry whose key starts with ``val`` or ``test``.

    Attributes:
        val_freq: validate every this many iterations, >= 1 (default 5000).
        save_img: write each validated output to ``visualization/<set>/<image>_<suffix>.png`` in
            the experiment folder (default false).
        suffix: the file-name suffix of saved images; default: the iteration number.
        pbar: show a progress bar over each validation set (default false).
        max_tb_images: outputs per validation set shown in TensorBoard (default 4; 0: none).
        metrics: ``{name: {type: psnr, crop_border: 4, ...}}``: the metrics to report, each logged
            under its name; default: none (outputs only).
        tile: run the generator on tiles of this many LQ pixels, blended where they overlap, as
            ``srkit-infer --tile`` does: large val images and window transformers (HAT, DAT ...) fit in
            memory; 0 to 16384 (default 0: whole images).
        tile_overlap: the tiles' overlap in LQ pixels, 0 to 16384 (default 32).
    """

    val_freq: Int = 5000
    save_img: Bool = False
    suffix: Optional[Str] = None
    pbar: Bool = False  # a progress bar over each validation set
    max_tb_images: Int = 4
    metrics: dict[str, MetricOptions] = {}
    tile: IntIn(0, MAX_SIZE) = 0
    tile_overlap: IntIn(0, MAX_SIZE) = 32

    def check(self, path):
        if self.val_freq < 1:
            raise OptionError(f'{path}.val_freq: must be >= 1, got {self.val_freq}')


class WandbOptions(Schema):
    """``logger.wandb:`` as BasicSR's recipes carry it; Weights & Biases is not supported.

    Attributes:
        project: must be empty (``~``): wandb is not supported; use TensorBoard.
        resume_id: must be empty (``~``): wandb is not supported.
    """

    project: Optional[Str] = None
    resume_id: Optional[Str] = None

    def check(self, path):
        for key in ('project', 'resume_id'):  # BasicSR's recipes carry both as ~
            if getattr(self, key):
                raise OptionError(f'{path}.{key}: wandb is not supported; use TensorBoard (logger.use_tb_logger)')


class LoggerOptions(Schema):
    """``logger:``: console and TensorBoard logging, checkpoint frequency and format.

    Attributes:
        print_freq: log losses and learning rates every this many iterations, >= 1 (default 100).
        save_checkpoint_freq: save the networks and the training state every this many
            iterations, >= 1 (default 5000); the last iteration is always saved.
        use_tb_logger: write TensorBoard logs under ``tb_logger/<name>`` (default true).
        keep_checkpoints: training states to keep, newest first; 0 (default) keeps all.
        save_format: network files as BasicSR's ``pth`` (``params`` and ``params_ema``, default) or
            ``safetensors`` (one flat state dict, the EMA when there is one).
        wandb: BasicSR's Weights & Biases keys; accepted only empty.
    """

    print_freq: Int = 100
    save_checkpoint_freq: Int = 5000
    use_tb_logger: Bool = True
    keep_checkpoints: Int = 0  # 0 keeps all; N keeps the newest N training states
    # network files: BasicSR's .pth (params and params_ema), or .safetensors (one flat state
    # dict, the EMA when there is one; the raw weights then go into the training state)
    save_format: Literal['pth', 'safetensors'] = 'pth'
    wandb: WandbOptions = WandbOptions()

    def check(self, path):
        if self.print_freq < 1 or self.save_checkpoint_freq < 1:
            raise OptionError(f'{path}: print_freq and save_checkpoint_freq must be >= 1')


class PretrainOptions(Schema):
    """One network's pretrained weights (from ``path.pretrain_network_<net>`` and its keys).

    Attributes:
        path: the weights file; none: start from the network's initialisation.
        param_key: the checkpoint's key holding the state dict (default ``params``).
        strict: refuse missing or unexpected keys (default true).
    """

    path: Optional[str] = None
    param_key: str = 'params'
    strict: bool = True


class PathOptions(Schema):
    """``path:``; srkit.options adds ``pretrain_network_<net>``, ``param_key_<net>`` and
    ``strict_load_<net>`` for each network of the family.

    Attributes:
        experiments_root: the folder that holds the experiment folder ``<name>``; default:
            ``experiments`` in the working directory.
        resume_state: a training state (``training_states/<iter>.state``) to resume from; it must exist.
        pretrain_network_<net>: weights to load into network ``<net>`` before training (``.pth``
            or ``.safetensors``; it must exist); default: its initialisation.
        param_key_<net>: the key of ``pretrain_network_<net>`` that holds its state dict
            (default ``params``; ``params_ema`` for the EMA).
        strict_load_<net>: refuse missing or unexpected keys when loading network ``<net>``
            (default true).
    """

    experiments_root: Optional[Str] = None
    resume_state: Optional[Str] = None

    def check(self, path):
        if self.resume_state is not None:
            check_path(self.resume_state, f'{path}.resume_state')
        for key, value in self:
            if key.startswith('pretrain_network_') and value:
                setattr(self, key, check_path(value, f'{path}.{key}'))

    @property
    def pretrain(self) -> dict[str, PretrainOptions]:
        out = {}
        for key, value in self:
            if key.startswith('pretrain_network_'):
                net = key[len('pretrain_network_'):]
                out[net] = PretrainOptions(path=value or None, param_key=getattr(self, f'param_key_{net}'),
                                           strict=getattr(self, f'strict_load_{net}'))
        return out


class DistOptions(Schema):
    """``dist_params:``: distributed training (a ``torchrun`` launch).

    Attributes:
        backend: the process-group backend: ``gloo``, ``nccl`` or ``mpi``; default: nccl on GPUs,
            gloo on CPUs.
        port: ``MASTER_PORT`` when the launcher did not set one (torchrun does), default 29500.
    """

    backend: Optional[Literal['gloo', 'nccl', 'mpi']] = None  # default: nccl on GPUs, gloo on CPUs
    port: Int = 29500  # MASTER_PORT when the launcher did not set one (torchrun does)
