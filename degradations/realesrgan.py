"""Real-ESRGAN's second-order degradation (Wang et al., 2021).

Two halves, as in the paper's training code:

* per sample, in dataset workers: :func:`sample_kernels` draws the three
  ``(21, 21)`` kernels and returns the parameters behind them;
* per batch, on the training device: :func:`second_order` runs blur, resize,
  noise and JPEG twice, the final sinc, and the 8-bit rounding on a
  ``(B,3,H,W) RGB float in [0,1]`` GT batch.  :class:`Degrader` adds the
  paired crop and the training-pair pool and keeps the random state for resume.

Randomness: structural choices (resize direction and mode, noise kind, the
order of the last stage, crop offsets) come from a CPU ``torch.Generator``;
per-sample values and noise fields from a generator on the batch's device, so
nothing synchronises with the host.  Unlike the reference, this runs on CPU,
draws the noise kind and the second blur per sample, and takes any batch size.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
import torch
from torch.nn import functional as F

from .kernels import KERNEL_KINDS, kernel_from_params, pad_kernel, random_mixed_kernel, random_sinc_kernel
from .torch_ops import filter2d, gaussian_noise_pt, jpeg_pt, poisson_noise_pt, usm_sharp_pt  # noqa: F401
from .torch_ops import lanczos_resize_pt, one_cpu_thread


class _FromOptions:
    """``from_dict``: build the config from an options mapping (YAML), taking only its own
    fields and turning YAML lists into the tuples the fields hold."""

    @classmethod
    def from_dict(cls, d: dict):
        names = {f.name for f in fields(cls)}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in names})


@dataclass
class KernelConfig(_FromOptions):
    """The kernel fields of Real-ESRGAN's x4plus recipe (defaults = the paper's);
    the names are RealESRGANDataset's option keys.

    Attributes:
        kernel_range: the kernel sides drawn from, odd numbers (7, 9, ..., 21).
        kernel_list: the first blur's kernel kinds (``iso``, ``aniso``, ``generalized_iso`` ...).
        kernel_prob: the probability of each ``kernel_list`` kind, one number >= 0 per kind.
        sinc_prob: probability, in [0, 1], that the first blur is a sinc filter (0.1).
        blur_sigma: [low, high] Gaussian sigma of the first blur, in pixels ([0.2, 3]).
        betag_range: [low, high] shape of the first blur's generalized Gaussian kernels ([0.5, 4]).
        betap_range: [low, high] shape of the first blur's plateau kernels ([1, 2]).
        kernel_list2: the second blur's kernel kinds.
        kernel_prob2: the probability of each ``kernel_list2`` kind.
        sinc_prob2: probability that the second blur is a sinc filter (0.1).
        blur_sigma2: [low, high] Gaussian sigma of the second blur ([0.2, 1.5]).
        betag_range2: [low, high] shape of the second blur's generalized Gaussian kernels.
        betap_range2: [low, high] shape of the second blur's plateau kernels.
        final_sinc_prob: probability, in [0, 1], of the final sinc filter (0.8).
        size: the side every kernel is zero-padded to (21).
        kernel_range2: the second blur's kernel sides; default: ``kernel_range``.
        final_kernel_range: the final sinc filter's kernel sides; default: ``kernel_range``.
    """

    kernel_range: tuple = tuple(range(7, 22, 2))  # odd sizes 7..21
    kernel_list: tuple = KERNEL_KINDS
    kernel_prob: tuple = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)
    sinc_prob: float = 0.1
    blur_sigma: tuple = (0.2, 3.0)
    betag_range: tuple = (0.5, 4.0)
    betap_range: tuple = (1.0, 2.0)
    kernel_list2: tuple = KERNEL_KINDS
    kernel_prob2: tuple = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)
    sinc_prob2: float = 0.1
    blur_sigma2: tuple = (0.2, 1.5)
    betag_range2: tuple = (0.5, 4.0)
    betap_range2: tuple = (1.0, 2.0)
    final_sinc_prob: float = 0.8
    size: int = 21  # every kernel is zero-padded to this
    kernel_range2: tuple | None = None  # traiNNer-redux's: the second blur's sides (default kernel_range)
    final_kernel_range: tuple | None = None  # and the final sinc's


def _blur(rng, cfg: KernelConfig, second: bool):
    k = int(rng.choice(cfg.kernel_range2 if second and cfg.kernel_range2 else cfg.kernel_range))
    if rng.uniform() < (cfg.sinc_prob2 if second else cfg.sinc_prob):
        ker, p = random_sinc_kernel(rng, k)
    else:
        sigma = cfg.blur_sigma2 if second else cfg.blur_sigma
        ker, p = random_mixed_kernel(rng, cfg.kernel_list2 if second else cfg.kernel_list,
                                     cfg.kernel_prob2 if second else cfg.kernel_prob, k,
                                     sigma_x_range=sigma, sigma_y_range=sigma, rotation_range=(-math.pi, math.pi),
                                     betag_range=cfg.betag_range2 if second else cfg.betag_range,
                                     betap_range=cfg.betap_range2 if second else cfg.betap_range)
    p['pad_to'] = cfg.size
    return pad_kernel(ker, cfg.size), p


def sample_kernels(rng: np.random.Generator, cfg: KernelConfig | None = None):
    """Draw (kernel1, kernel2, final sinc) as ``(3, size, size)`` float32 and their params."""
    cfg = cfg or KernelConfig()
    k1, p1 = _blur(rng, cfg, second=False)
    k2, p2 = _blur(rng, cfg, second=True)
    if rng.uniform() < cfg.final_sinc_prob:
        k3, p3 = random_sinc_kernel(rng, int(rng.choice(cfg.final_kernel_range or cfg.kernel_range)),
                                    cutoff_range=(math.pi / 3, math.pi),
                                    pad_to=cfg.size)
    else:
        p3 = {'kind': 'pulse', 'size': cfg.size}
        k3 = kernel_from_params(p3)
    return np.stack([k1, k2, k3]).astype(np.float32), {'kernel1': p1, 'kernel2': p2, 'sinc': p3}


@dataclass
class SecondOrderConfig(_FromOptions):
    """The batched stages' fields, named as in Real-ESRGAN's recipes (defaults = x4plus).

    ``resize_prob`` is the probability of [up, down, keep]; ``resize_range``
    bounds the scale; Gaussian noise (``noise_range`` in 8-bit sigma) is used
    with ``gaussian_noise_prob``, Poisson (``poisson_scale_range``) otherwise.
    Names ending in 2 are the second stage's.

    Attributes:
        resize_prob: probabilities of the first resize going [up, down, keep], three numbers >= 0
            (default [0.2, 0.7, 0.1]).
        resize_range: [low, high] scale factor of the first resize, low <= 1 <= high (default
            [0.15, 1.5]).
        gaussian_noise_prob: probability, in [0, 1], that the first noise is Gaussian rather than
            Poisson (default 0.5).
        noise_range: [low, high] sigma of the first Gaussian noise, in 8-bit levels (default [1, 30]).
        poisson_scale_range: [low, high] scale of the first Poisson noise (default [0.05, 3]).
        gray_noise_prob: probability, in [0, 1], that the first noise is the same on all channels
            (default 0.4).
        jpeg_range: [low, high] quality of the first JPEG compression, in [1, 100] (default [30, 95]).
        second_blur_prob: probability, in [0, 1], of the second blur (default 0.8).
        resize_prob2: probabilities of the second resize going [up, down, keep] (default
            [0.3, 0.4, 0.3]).
        resize_range2: [low, high] scale factor of the second resize (default [0.3, 1.2]).
        gaussian_noise_prob2: probability that the second noise is Gaussian (default 0.5).
        noise_range2: [low, high] sigma of the second Gaussian noise, in 8-bit levels (default [1, 25]).
        poisson_scale_range2: [low, high] scale of the second Poisson noise (default [0.05, 2.5]).
        gray_noise_prob2: probability that the second noise is the same on all channels (default 0.4).
        jpeg_range2: [low, high] quality of the second JPEG compression, in [1, 100] (default [30, 95]).
        blur_prob: probability, in [0, 1], of the first blur, per sample (default 1: always, as
            Real-ESRGAN; traiNNer-redux's key).
        jpeg_prob: probability, in [0, 1], of the first JPEG compression, per sample (default 1).
        jpeg_prob2: probability, in [0, 1], of the second JPEG compression, per sample (default 1).
        resize_mode_list: the first resize's interpolations, from ``area``, ``bilinear``,
            ``bicubic``, ``nearest``, ``nearest-exact`` and ``lanczos`` (default Real-ESRGAN's
            three: area, bilinear, bicubic).
        resize_mode_prob: the probability of each ``resize_mode_list`` entry (default equal).
        resize_mode_list2: the second resize's interpolations (default area, bilinear, bicubic).
        resize_mode_prob2: the probability of each ``resize_mode_list2`` entry (default equal).
        resize_mode_list3: the final resize's interpolations (default area, bilinear, bicubic).
        resize_mode_prob3: the probability of each ``resize_mode_list3`` entry (default equal).
        resize_antialias: antialiased bilinear and bicubic shrinking, each resize's result clamped
            to [0, 1], as traiNNer-redux resizes (default false: Real-ESRGAN's ``F.interpolate``).
        usm_lq: degrade the USM-sharpened GT, as Real-ESRGAN does (default true); false: the GT as
            it is (traiNNer-redux's ``lq_usm: false``).
    """

    resize_prob: tuple[float, ...] = (0.2, 0.7, 0.1)
    resize_range: tuple[float, ...] = (0.15, 1.5)
    gaussian_noise_prob: float = 0.5
    noise_range: tuple[float, ...] = (1.0, 30.0)
    poisson_scale_range: tuple[float, ...] = (0.05, 3.0)
    gray_noise_prob: float = 0.4
    jpeg_range: tuple[float, ...] = (30.0, 95.0)
    second_blur_prob: float = 0.8
    resize_prob2: tuple[float, ...] = (0.3, 0.4, 0.3)
    resize_range2: tuple[float, ...] = (0.3, 1.2)
    gaussian_noise_prob2: float = 0.5
    noise_range2: tuple[float, ...] = (1.0, 25.0)
    poisson_scale_range2: tuple[float, ...] = (0.05, 2.5)
    gray_noise_prob2: float = 0.4
    jpeg_range2: tuple[float, ...] = (30.0, 95.0)
    # traiNNer-redux's keys; the defaults are Real-ESRGAN's pipeline, unchanged (and its random draws)
    blur_prob: float = 1.0
    jpeg_prob: float = 1.0
    jpeg_prob2: float = 1.0
    resize_mode_list: tuple[str, ...] = ('area', 'bilinear', 'bicubic')
    resize_mode_prob: tuple[float, ...] = (1 / 3, 1 / 3, 1 / 3)
    resize_mode_list2: tuple[str, ...] = ('area', 'bilinear', 'bicubic')
    resize_mode_prob2: tuple[float, ...] = (1 / 3, 1 / 3, 1 / 3)
    resize_mode_list3: tuple[str, ...] = ('area', 'bilinear', 'bicubic')
    resize_mode_prob3: tuple[float, ...] = (1 / 3, 1 / 3, 1 / 3)
    resize_antialias: bool = False
    usm_lq: bool = True


RESIZE_MODES = ('area', 'bilinear', 'bicubic')
# what a resize_mode_list may name: F.interpolate's modes, and traiNNer-redux's lanczos
ALL_RESIZE_MODES = ('area', 'bilinear', 'bicubic', 'nearest', 'nearest-exact', 'lanczos')


def _u(gen: torch.Generator) -> float:
    return float(torch.rand((), generator=gen))


def _pick(gen: torch.Generator, options, probs=None):
    u = _u(gen)
    probs = probs or [1.0 / len(options)] * len(options)
    acc = 0.0
    for opt, p in zip(options, probs):
        acc += p / sum(probs)
        if u < acc:
            return opt
    return options[-1]


def _resize_scale(gen, probs, rng_range) -> float:
    kind = _pick(gen, ('up', 'down', 'keep'), list(probs))
    if kind == 'up':
        return 1.0 + _u(gen) * (rng_range[1] - 1.0)
    if kind == 'down':
        return rng_range[0] + _u(gen) * (1.0 - rng_range[0])
    return 1.0


def _interpolate(x, mode, size=None, scale=None, antialias: bool = False):
    """``F.interpolate`` of ``(B,C,H,W)``, on one thread on the CPU: the bilinear kernel's result
    depends on how the threads split the output (by an ulp); area and bicubic were measured
    thread-independent, but are cheap enough that one rule for all modes costs nothing.

    ``antialias``: traiNNer-redux's resize: antialiased bilinear and bicubic, ``lanczos``
    (:func:`lanczos_resize_pt`), the size rounded from ``scale`` and the result clamped to [0,1]."""
    if antialias or mode == 'lanczos':
        if size is None:
            size = (round(x.shape[2] * scale), round(x.shape[3] * scale))
        if tuple(size) == tuple(x.shape[2:]):
            return x  # traiNNer-redux leaves a 'keep' as it is
        if mode == 'lanczos':
            with one_cpu_thread(x):
                return lanczos_resize_pt(x, size)
        with one_cpu_thread(x):
            return F.interpolate(x, size=size, mode=mode, antialias=mode in ('bilinear', 'bicubic')).clamp(0, 1)
    with one_cpu_thread(x):
        return F.interpolate(x, size=size, scale_factor=scale, mode=mode)




def _sometimes(x, dev_gen, prob, fn):
    """``fn(x)`` on the samples a draw of probability ``prob`` picks, ``x`` on the others; no
    draw at all for ``prob`` 1 (every sample, Real-ESRGAN's stream unchanged)."""
    if prob >= 1:
        return fn(x), None
    if prob <= 0:
        return x, torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
    pick = torch.rand(x.shape[0], device=x.device, generator=dev_gen) < prob
    return torch.where(pick.view(-1, 1, 1, 1), fn(x), x), pick


def _noise(x, cpu_gen, dev_gen, gaussian_prob, sigma_range, poisson_range, gray_prob, fused=None):
    """Gaussian or Poisson noise, the kind drawn per sample; clamps to [0,1].
    Params: ``kind`` per sample, and each kind's drawn values for its samples."""
    b = x.shape[0]
    gauss = [_u(cpu_gen) < gaussian_prob for _ in range(b)]
    params: dict = {'kind': ['gaussian' if g else 'poisson' for g in gauss]}
    kinds = (('gaussian', gaussian_noise_pt, sigma_range), ('poisson', poisson_noise_pt, poisson_range))
    if fused is None:
        fused = x.device.type != 'cpu'
    if fused and 0 < sum(gauss) < b:
        # on an accelerator, noising the whole batch both ways is cheaper than the host
        # round trip an index tensor would cost; the mask is built on the device
        mask = torch.zeros(b, device=x.device, dtype=torch.bool)
        for i in (i for i in range(b) if gauss[i]):
            mask[i] = True
        (g, params['gaussian']), (p, params['poisson']) = (fn(x, dev_gen, r, gray_prob) for _, fn, r in kinds)
        return torch.clamp(torch.where(mask.view(b, 1, 1, 1), g, p), 0, 1), params
    out = torch.empty_like(x)
    for kind, fn, rng in kinds:
        idx = [i for i in range(b) if gauss[i] == (kind == 'gaussian')]
        if not idx:
            continue
        sel = torch.tensor(idx) if len(idx) < b else slice(None)
        out[sel], params[kind] = fn(x[sel], dev_gen, rng, gray_prob)
    return torch.clamp(out, 0, 1), params


def _jpeg(x, dev_gen, q_range):
    q = torch.rand(x.shape[0], device=x.device, generator=dev_gen) * (q_range[1] - q_range[0]) + q_range[0]
    return jpeg_pt(torch.clamp(x, 0, 1), q), q


def _maybe_jpeg(x, dev_gen, q_range, prob):
    """JPEG on each sample with probability ``prob`` (the qualities drawn for all; the skipped
    samples' quality reads 0 in the params)."""
    if prob >= 1:
        return _jpeg(x, dev_gen, q_range)
    q = torch.rand(x.shape[0], device=x.device, generator=dev_gen) * (q_range[1] - q_range[0]) + q_range[0]
    out, pick = _sometimes(x, dev_gen, prob, lambda t: jpeg_pt(torch.clamp(t, 0, 1), q))
    return out, torch.where(pick, q, torch.zeros_like(q))


def second_order(gt: torch.Tensor, kernel1: torch.Tensor, kernel2: torch.Tensor, sinc: torch.Tensor, scale: int,
                 generator: torch.Generator, device_generator: torch.Generator | None = None,
                 cfg: SecondOrderConfig | None = None, usm: bool = True):
    """Real-ESRGAN's second-order degradation of a batch.

    ``gt (B,3,H,W) RGB float in [0,1]`` with H, W multiples of ``scale``;
    ``kernel1/kernel2/sinc (B,k,k)`` from :func:`sample_kernels`.
    ``generator`` is a CPU generator for the structural choices;
    ``device_generator`` (default: the same) lives on ``gt``'s device.
    Returns ``(lq (B,3,H/s,W/s) with 8-bit values, gt_usm, params)``;
    the LQ is made from the USM-sharpened GT when ``usm`` (else from ``gt``).
    """
    cfg = cfg or SecondOrderConfig()
    dev_gen = device_generator or generator
    b, _, h, w = gt.shape
    if h % scale or w % scale:
        raise ValueError(f'GT size {h}x{w} is not a multiple of the scale {scale}')
    gt_usm = usm_sharp_pt(gt) if usm and cfg.usm_lq else gt
    p: dict = {}
    aa = cfg.resize_antialias

    # stage 1: blur, resize, noise, JPEG
    out, blur1 = _sometimes(gt_usm, dev_gen, cfg.blur_prob, lambda x: filter2d(x, kernel1))
    if blur1 is not None:
        p['blur1'] = blur1
    s1 = _resize_scale(generator, cfg.resize_prob, cfg.resize_range)
    mode1 = _pick(generator, tuple(cfg.resize_mode_list), list(cfg.resize_mode_prob))
    out = _interpolate(out, mode1, scale=s1, antialias=aa)
    p['resize1'] = {'scale': s1, 'mode': mode1}
    out, p['noise1'] = _noise(out, generator, dev_gen, cfg.gaussian_noise_prob, cfg.noise_range,
                              cfg.poisson_scale_range, cfg.gray_noise_prob)
    out, p['jpeg1'] = _maybe_jpeg(out, dev_gen, cfg.jpeg_range, cfg.jpeg_prob)

    # stage 2: blur (per sample, else an identity pulse), resize relative to H/scale, noise
    blur2 = torch.rand(b, device=gt.device, generator=dev_gen) < cfg.second_blur_prob
    pulse = torch.zeros_like(kernel2[:1])
    pulse[..., kernel2.shape[-2] // 2, kernel2.shape[-1] // 2] = 1
    out = filter2d(out, torch.where(blur2.view(b, 1, 1), kernel2.to(gt.device), pulse.to(gt.device)))
    p['blur2'] = blur2
    s2 = _resize_scale(generator, cfg.resize_prob2, cfg.resize_range2)
    mode2 = _pick(generator, tuple(cfg.resize_mode_list2), list(cfg.resize_mode_prob2))
    out = _interpolate(out, mode2, size=(max(1, int(h / scale * s2)), max(1, int(w / scale * s2))), antialias=aa)
    p['resize2'] = {'scale': s2, 'mode': mode2}
    out, p['noise2'] = _noise(out, generator, dev_gen, cfg.gaussian_noise_prob2, cfg.noise_range2,
                              cfg.poisson_scale_range2, cfg.gray_noise_prob2)

    # the last stage: [resize to H/scale + sinc, JPEG] or [JPEG, resize + sinc]
    sinc_first = _u(generator) < 0.5
    mode3 = _pick(generator, tuple(cfg.resize_mode_list3), list(cfg.resize_mode_prob3))
    p['final'] = {'order': 'sinc_jpeg' if sinc_first else 'jpeg_sinc', 'mode': mode3}
    if sinc_first:
        out = filter2d(_interpolate(out, mode3, size=(h // scale, w // scale), antialias=aa), sinc)
        out, p['jpeg2'] = _maybe_jpeg(out, dev_gen, cfg.jpeg_range2, cfg.jpeg_prob2)
    else:
        out, p['jpeg2'] = _maybe_jpeg(out, dev_gen, cfg.jpeg_range2, cfg.jpeg_prob2)
        out = filter2d(_interpolate(out, mode3, size=(h // scale, w // scale), antialias=aa), sinc)
    lq = torch.clamp((out * 255.0).round(), 0, 255) / 255.0
    return lq, gt_usm, p


def paired_random_crop_pt(gts: list, lq: torch.Tensor, gt_size: int, scale: int, generator: torch.Generator):
    """Crop every tensor in ``gts (B,C,H,W)`` and ``lq (B,C,H/s,W/s)`` at the same
    aligned place, drawn per sample; returns ``(gts, lq, tops, lefts)`` (LQ units)."""
    b, _, h, w = lq.shape
    s = gt_size // scale
    if h < s or w < s:
        raise ValueError(f'LQ {h}x{w} is smaller than the crop {s}x{s} (gt_size {gt_size} / scale {scale})')
    tops = [int(torch.randint(0, h - s + 1, (), generator=generator)) for _ in range(b)]
    lefts = [int(torch.randint(0, w - s + 1, (), generator=generator)) for _ in range(b)]

    def crop(x, f):
        return torch.stack([x[i, :, t * f:(t + s) * f, l * f:(l + s) * f] for i, (t, l) in enumerate(zip(tops, lefts))])

    return [crop(g, scale) for g in gts], crop(lq, 1), tops, lefts


def to_jsonable(obj):
    """Params with tensors turned into (nested) lists of Python numbers, for manifests."""
    if isinstance(obj, torch.Tensor):
        return obj.tolist()
    if isinstance(obj, dict):
        return {k: to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    return obj


class PairPool:
    """Real-ESRGAN's training-pair pool ("queue"), for any batch size.

    While filling, batches pass through unchanged and are stored; once full,
    each batch swaps places with ``b`` random stored pairs, which are returned,
    so a batch mixes degradations from many iterations.  ``state_dict`` holds
    the stored pairs for exact resume.
    """

    def __init__(self, size: int = 180):
        self.size = size
        self.lq = self.gt = None
        self.count = 0

    def __call__(self, lq, gt, generator):
        b = lq.shape[0]
        if b > self.size:
            raise ValueError(f'batch {b} exceeds the pool size {self.size}')
        if self.lq is None:
            self.lq = lq.new_empty((self.size, *lq.shape[1:]))
            self.gt = gt.new_empty((self.size, *gt.shape[1:]))
        if self.count < self.size:  # still filling: store what fits, pass the batch through
            n = min(b, self.size - self.count)
            self.lq[self.count: self.count + n] = lq[:n]
            self.gt[self.count: self.count + n] = gt[:n]
            self.count += n
            return lq, gt
        idx = torch.randperm(self.size, generator=generator, device=generator.device)[:b].to(lq.device)
        out_lq, out_gt = self.lq[idx].clone(), self.gt[idx].clone()
        self.lq[idx], self.gt[idx] = lq, gt
        return out_lq, out_gt

    def state_dict(self) -> dict:
        if self.lq is None:
            return {'count': 0}
        return {'count': self.count, 'lq': _pack(self.lq[: self.count]), 'gt': _pack(self.gt[: self.count])}

    def load_state_dict(self, state: dict, device='cpu') -> None:
        self.count = int(state['count'])
        if self.count:
            lq, gt = _unpack(state['lq']).to(device), _unpack(state['gt']).to(device)
            self.lq = lq.new_empty((self.size, *lq.shape[1:]))
            self.gt = gt.new_empty((self.size, *gt.shape[1:]))
            self.lq[: self.count], self.gt[: self.count] = lq, gt


# k/255 by division (our LQ rounding) or by multiplying with float32(1/255) (image decoding):
# the two differ in the last bit, and resume must be bitwise, so the pack records which
_FROM_U8 = {'div': lambda q: q / 255.0, 'mul': lambda q: q * torch.tensor(1 / 255.0, dtype=q.dtype)}


def _pack(t: torch.Tensor):
    """8-bit-valued float tensors are stored as uint8 (4x smaller), others as they are."""
    q = torch.clamp((t * 255.0).round(), 0, 255)
    for how, fn in _FROM_U8.items():
        if torch.equal(fn(q), t):
            return {'u8': q.to(torch.uint8).cpu(), 'dtype': str(t.dtype).replace('torch.', ''), 'from_u8': how}
    return {'float': t.cpu()}


def _unpack(d) -> torch.Tensor:
    if 'u8' in d:
        return _FROM_U8[d['from_u8']](d['u8'].to(getattr(torch, d['dtype'])))
    return d['float']


class Degrader:
    """What Real-ESRGAN's model does to each training batch before the step.

    ``second_order`` on the batch, an aligned per-sample crop to ``gt_size``,
    the training-pair pool (``queue_size`` pairs; 0 disables it), then the
    USM of the pooled GT.  It owns its generators, seeded from ``seed``, and
    ``state_dict`` holds them and the pool, so a resumed run is exact.
    """

    def __init__(self, scale: int, gt_size: int, cfg: SecondOrderConfig | None = None, queue_size: int = 180,
                 device='cpu', seed: int = 0, usm_lq: bool = True):
        self.scale, self.gt_size, self.cfg, self.usm_lq = scale, gt_size, cfg or SecondOrderConfig(), usm_lq
        self.device = torch.device(device)
        self.generator = torch.Generator().manual_seed(seed)
        self.device_generator = (self.generator if self.device.type == 'cpu'
                                 else torch.Generator(self.device).manual_seed(seed))
        self.pool = PairPool(queue_size) if queue_size > 0 else None

    @torch.no_grad()
    def __call__(self, gt: torch.Tensor, kernel1: torch.Tensor, kernel2: torch.Tensor, sinc: torch.Tensor):
        """``gt (B,3,H,W)`` in [0,1] on ``device`` -> ``(lq, gt, gt_usm, params)``, cropped and pooled."""
        lq, _, params = second_order(gt, kernel1, kernel2, sinc, self.scale, self.generator,
                                     self.device_generator, self.cfg, usm=self.usm_lq)
        (gt,), lq, tops, lefts = paired_random_crop_pt([gt], lq, self.gt_size, self.scale, self.generator)
        params['crop'] = {'top': tops, 'left': lefts}
        if self.pool is not None:
            lq, gt = self.pool(lq, gt, self.device_generator)
        return lq.contiguous(), gt, usm_sharp_pt(gt), params

    def state_dict(self) -> dict:
        state = {'generator': self.generator.get_state()}
        if self.device_generator is not self.generator:
            state['device_generator'] = self.device_generator.get_state()
        if self.pool is not None:
            state['pool'] = self.pool.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state['generator'])
        if 'device_generator' in state and self.device_generator is not self.generator:
            self.device_generator.set_state(state['device_generator'])
        if self.pool is not None and 'pool' in state:
            self.pool.load_state_dict(state['pool'], self.device)
