"""Batched degradation ops on ``(B,C,H,W) RGB float in [0,1]`` tensors.

They run on whatever device and dtype the batch has, and draw per-sample
values from an explicit ``torch.Generator`` living on that device, so no op
synchronises with the host.  Each random op returns ``(out, params)`` with the
per-sample values it drew as tensors.

Outputs equal basicsr's ``filter2D``, ``USMSharp`` and ``DiffJPEG`` (see the
tests) but are computed differently: large kernels through FFTs, the 8x8 DCT
as two small matrix products, and the Poisson level count as one histogram.
"""
from __future__ import annotations

import contextlib
import math

import numpy as np
import torch
from torch.nn import functional as F

# Above this many taps, FFT filtering beats a direct grouped convolution on CPU
# (scripts/bench/degrade.py); cuDNN has no fast path for large depthwise kernels either.
FFT_MIN_TAPS = 100


@contextlib.contextmanager
def one_cpu_thread(x: torch.Tensor):
    """Run the block on one intra-op thread when ``x`` lives on the CPU; restore the count after.

    Some CPU kernels give results that depend on how many threads split the work: the FFT
    (MKL splits the transform differently) and bilinear ``F.interpolate`` (where each thread's
    chunk starts decides which outputs the vectorised loop computes), by an ulp or two --
    enough to move an 8-bit value after rounding.  The LR must not depend on the thread count
    (``srkit-degrade`` runs one thread per worker, all the cores in a single process), so those
    ops run on one thread; the others here (direct convolution, bicubic and area resizing,
    JPEG's matrix products, noise, rounding) gave equal results on 1 to 16 threads and keep
    them all.  The count is process-wide: torch work in other Python threads meanwhile runs
    on one thread too (slower, never different).
    """
    n = torch.get_num_threads()
    if x.device.type != 'cpu' or n == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def filter2d(x: torch.Tensor, kernels: torch.Tensor, method: str = 'auto') -> torch.Tensor:
    """Correlate each sample of ``x (B,C,H,W)`` with its own odd ``(k,k)`` kernel.

    ``kernels`` is ``(B,k,k)``, or ``(k,k)``/``(1,k,k)`` for one kernel for all.
    Reflect padding keeps the size (basicsr's ``filter2D``).  ``method`` is
    ``direct`` (grouped convolution), ``fft`` or ``auto`` (FFT for big kernels).
    """
    b, c, h, w = x.shape
    kernels = kernels.to(x.device, x.dtype)
    if kernels.ndim == 2:
        kernels = kernels.unsqueeze(0)
    k = kernels.shape[-1]
    if k % 2 != 1 or kernels.shape[-2] != k:
        raise ValueError(f'kernels must be square with an odd size, got {tuple(kernels.shape[-2:])}')
    if kernels.shape[0] not in (1, b):
        raise ValueError(f'{kernels.shape[0]} kernels for a batch of {b}')
    xp = reflect_pad(x, k // 2)
    if method == 'auto':
        method = 'fft' if k * k >= FFT_MIN_TAPS else 'direct'
    if method == 'fft':
        ph, pw = xp.shape[-2:]
        with one_cpu_thread(x):  # the CPU FFT's result depends on its thread count
            # circular correlation = irfft(X * conj(K)); the first h x w outputs never wrap
            kf = torch.fft.rfft2(kernels.float(), s=(ph, pw)).conj().unsqueeze(1)
            out = torch.fft.irfft2(torch.fft.rfft2(xp.float()) * kf, s=(ph, pw))
        return out[..., :h, :w].to(x.dtype).contiguous()
    if kernels.shape[0] == 1:
        out = F.conv2d(xp.reshape(b * c, 1, *xp.shape[-2:]), kernels.view(1, 1, k, k))
        return out.view(b, c, h, w)
    weight = kernels.reshape(b, 1, k, k).repeat_interleave(c, dim=0)
    out = F.conv2d(xp.reshape(1, b * c, *xp.shape[-2:]), weight, groups=b * c)
    return out.reshape(b, c, h, w)


def reflect_pad(x: torch.Tensor, pad: int) -> torch.Tensor:
    """Mirror padding without repeating the edge (cv2's BORDER_REFLECT_101) by ``pad``
    on every side, for any ``pad``: beyond the image size it keeps reflecting, as cv2
    does, where ``F.pad(mode='reflect')`` refuses."""
    for dim in (-2, -1):
        left = pad
        while left > 0:
            n = x.shape[dim]
            if n == 1:
                x = torch.cat([x] * (2 * left + 1), dim=dim)
                break
            step = min(left, n - 1)  # each full step ends on a symmetry point of the mirrored signal
            spec = (0, 0, step, step) if dim == -2 else (step, step, 0, 0)
            x = F.pad(x, spec, mode='reflect')
            left -= step
    return x


_CONSTANTS: dict = {}


def _const(name: str, array: np.ndarray, device) -> torch.Tensor:
    """``array`` as a tensor on ``device``, copied there once: a host-to-device copy per
    call would make every training batch wait for the GPU."""
    key = (name, str(device))
    if key not in _CONSTANTS:
        _CONSTANTS[key] = torch.from_numpy(np.ascontiguousarray(array)).to(device)
    return _CONSTANTS[key]


def gaussian_blur_kernel(radius: int) -> np.ndarray:
    """cv2's ``getGaussianKernel(radius, 0)`` outer product, as USM uses it (radius made odd)."""
    import cv2
    if radius % 2 == 0:
        radius += 1
    g = cv2.getGaussianKernel(radius, 0)
    return (g @ g.T).astype(np.float32)


def usm_sharp_pt(x: torch.Tensor, weight: float = 0.5, radius: int = 50, threshold: float = 10) -> torch.Tensor:
    """Unsharp mask with a soft mask (Real-ESRGAN's GT sharpening), batched.

    ``(B,C,H,W)`` in [0,1] -> same; equals basicsr's ``USMSharp`` up to float
    rounding (the hard threshold may flip where ``|residual|*255`` is ~10).
    """
    k = _const(f'usm{radius}', gaussian_blur_kernel(radius), x.device)
    residual = x - filter2d(x, k)
    mask = ((residual.abs() * 255) > threshold).to(x.dtype)
    soft = filter2d(mask, k)
    sharp = torch.clamp(x + weight * residual, 0, 1)
    return soft * sharp + (1 - soft) * x


def _lanczos_taps(ratio: float, a: int = 3) -> torch.Tensor:
    """The Lanczos-``a`` low-pass that shrinking by ``ratio`` (< 1) needs: the kernel stretched
    by ``1 / ratio``, sampled at the input's pixels, normalised to sum 1; odd length."""
    n = math.ceil(a / ratio + 1)
    t = torch.arange(n, dtype=torch.float64) * ratio
    t = torch.cat([-t[1:].flip(0), t])[1:-1]

    def sinc(v):
        return torch.where(v != 0, torch.sin(math.pi * v) / (math.pi * v), torch.ones_like(v))

    k = torch.where((t > -a) & (t < a), sinc(t) * sinc(t / a), torch.zeros_like(t))
    return (k / k.sum()).float()


def lanczos_resize_pt(x: torch.Tensor, size: tuple[int, int], a: int = 3) -> torch.Tensor:
    """traiNNer-redux's ``lanczos`` resize of ``(B,C,H,W)`` in [0,1] to ``size``: along each axis
    that shrinks, a Lanczos-3 low-pass at the input's resolution (reflect-padded), then bicubic
    interpolation to the size; clamped to [0,1]."""
    b, c, h, w = x.shape
    oh, ow = size
    y = x.reshape(b * c, 1, h, w)
    if oh < h:
        k = _lanczos_taps(oh / h, a).to(y)
        y = F.conv2d(F.pad(y, (0, 0, k.numel() // 2, k.numel() // 2), 'reflect'), k.view(1, 1, -1, 1))
    if ow < w:
        k = _lanczos_taps(ow / w, a).to(y)
        y = F.conv2d(F.pad(y, (k.numel() // 2, k.numel() // 2, 0, 0), 'reflect'), k.view(1, 1, 1, -1))
    return F.interpolate(y.view(b, c, h, w), size=(oh, ow), mode='bicubic', align_corners=False).clamp(0, 1)


def _rand(b: int, lo: float, hi: float, like: torch.Tensor, generator) -> torch.Tensor:
    return torch.rand(b, device=like.device, dtype=like.dtype, generator=generator) * (hi - lo) + lo


def gaussian_noise_pt(x, generator, sigma_range=(1.0, 30.0), gray_prob=0.4):
    """Per-sample Gaussian noise: sigma/255 ~ U(range), gray with ``gray_prob``;
    independent fields per sample.  Returns ``(x + noise, {'sigma', 'gray'})``
    (unclipped) with ``(B,)`` tensors on the batch's device."""
    b, c, h, w = x.shape
    sigma = _rand(b, sigma_range[0], sigma_range[1], x, generator)
    gray = (torch.rand(b, device=x.device, dtype=x.dtype, generator=generator) < gray_prob).to(x.dtype)
    color = torch.randn(b, c, h, w, device=x.device, dtype=x.dtype, generator=generator)
    mono = torch.randn(b, 1, h, w, device=x.device, dtype=x.dtype, generator=generator)
    g = gray.view(b, 1, 1, 1)
    noise = (color * (1 - g) + mono * g) * (sigma / 255.0).view(b, 1, 1, 1)
    return x + noise, {'sigma': sigma, 'gray': gray}


def poisson_noise_pt(x, generator, scale_range=(0.05, 3.0), gray_prob=0.4):
    """Per-sample Poisson noise (Real-ESRGAN's): counts at 2^ceil(log2(#8-bit levels))
    levels, times ``scale``; the level count is one batched histogram on the device.
    Returns ``(x + noise, {'scale', 'gray'})`` (unclipped)."""
    b, c, h, w = x.shape
    scale = _rand(b, scale_range[0], scale_range[1], x, generator)
    gray = (torch.rand(b, device=x.device, dtype=x.dtype, generator=generator) < gray_prob).to(x.dtype)

    def noise_of(img):
        q = torch.clamp((img * 255.0).round(), 0, 255)
        idx = q.long().reshape(b, -1) + 256 * torch.arange(b, device=x.device).view(b, 1)
        levels = (torch.bincount(idx.reshape(-1), minlength=256 * b).view(b, 256) > 0).sum(1).to(x.dtype)
        vals = torch.exp2(torch.ceil(torch.log2(levels))).view(b, 1, 1, 1)
        q = q / 255.0
        return torch.poisson(q * vals, generator=generator) / vals - q

    lum = 0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]
    g = gray.view(b, 1, 1, 1)
    noise = noise_of(x) * (1 - g) + noise_of(lum).expand(b, c, h, w) * g
    return x + noise * scale.view(b, 1, 1, 1), {'scale': scale, 'gray': gray}


# --------------------------------------------------------------------- JPEG
# The standard JPEG tables, transposed as basicsr's DiffJPEG ships them (every
# Real-ESRGAN model was trained with this layout, so we keep it).
_Y_TABLE = np.array([
    [16, 11, 10, 16, 24, 40, 51, 61], [12, 12, 14, 19, 26, 58, 60, 55], [14, 13, 16, 24, 40, 57, 69, 56],
    [14, 17, 22, 29, 51, 87, 80, 62], [18, 22, 37, 56, 68, 109, 103, 77], [24, 35, 55, 64, 81, 104, 113, 92],
    [49, 64, 78, 87, 103, 121, 120, 101], [72, 92, 95, 98, 112, 100, 103, 99]], dtype=np.float32).T
_C_TABLE = np.full((8, 8), 99, dtype=np.float32)
_C_TABLE[:4, :4] = np.array([[17, 18, 24, 47], [18, 21, 26, 66], [24, 26, 56, 99], [47, 66, 99, 99]]).T
_RGB2YCC = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]],
                    dtype=np.float32)
_YCC2RGB = np.array([[1.0, 0.0, 1.402], [1.0, -0.344136, -0.714136], [1.0, 1.772, 0.0]], dtype=np.float32)


def _dct_matrix() -> np.ndarray:
    """Orthonormal 8-point DCT-II: ``M[u, x] = a_u/2 cos((2x+1) u pi / 16)``."""
    u, x = np.meshgrid(np.arange(8), np.arange(8), indexing='ij')
    alpha = np.where(u == 0, 1 / math.sqrt(2), 1.0)
    return (0.5 * alpha * np.cos((2 * x + 1) * u * math.pi / 16)).astype(np.float32)


_DCT = _dct_matrix()


def _blockwise(p: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """``M B M^T`` for every 8x8 block ``B`` of ``p (N,H,W)``, as two batched products."""
    n, h, w = p.shape
    t = (p.reshape(n, h, w // 8, 8) @ m.T).reshape(n, h // 8, 8, w)
    return (t.transpose(-1, -2) @ m.T).transpose(-1, -2).reshape(n, h, w)


def quality_to_factor(quality: torch.Tensor) -> torch.Tensor:
    """libjpeg's quality scaling: 50/q below 50, 2 - q/50 above."""
    return torch.where(quality < 50, 5000.0 / quality, 200.0 - quality * 2) / 100.0


def _diff_round(x: torch.Tensor) -> torch.Tensor:
    """Rounding with a gradient: round(x) + (x - round(x))^3 (DiffJPEG's approximation)."""
    r = torch.round(x)
    return r + (x - r) ** 3


def jpeg_pt(x: torch.Tensor, quality, differentiable: bool = False) -> torch.Tensor:
    """JPEG round trip (4:2:0, libjpeg tables scaled by quality), batched.

    ``x (B,3,H,W) RGB in [0,1]``; ``quality`` a number or ``(B,)`` tensor of
    per-sample qualities (floats allowed).  Equal to basicsr's
    ``DiffJPEG(differentiable=...)``; sizes are padded to 16 with zeros.  With
    ``differentiable`` the quantiser is DiffJPEG's smooth rounding, so gradients
    flow (Real-ESRGAN's data step uses exact rounding, the default).
    """
    rnd = _diff_round if differentiable else torch.round
    b, _, h, w = x.shape
    dev = x.device
    if isinstance(quality, torch.Tensor):
        q = quality.to(dev, torch.float32).reshape(-1).expand(b)
    else:
        q = torch.full((b,), float(quality), device=dev)
    factor = quality_to_factor(q).view(b, 1, 1)
    ph, pw = (-h) % 16, (-w) % 16
    img = F.pad(x.float(), (0, pw, 0, ph)) * 255.0
    H, W = h + ph, w + pw
    ycc = torch.einsum('ij,bjhw->bihw', _const('rgb2ycc', _RGB2YCC, dev), img)
    y = ycc[:, 0]
    cbcr = F.avg_pool2d(ycc[:, 1:] + 128.0, 2)  # (B,2,H/2,W/2)
    m = _const('dct', _DCT, dev)

    def roundtrip(plane, name, table, hh, ww, f):
        t = _const(name, table, dev).repeat(hh // 8, ww // 8) * f
        coef = rnd(_blockwise(plane - 128.0, m) / t) * t
        return _blockwise(coef, m.T) + 128.0

    y = roundtrip(y, 'y_table', _Y_TABLE, H, W, factor)
    c = roundtrip(cbcr.reshape(b * 2, H // 2, W // 2), 'c_table', _C_TABLE, H // 2, W // 2,
                  factor.repeat_interleave(2, 0)).view(b, 2, H // 2, W // 2)
    c = c.repeat_interleave(2, dim=-2).repeat_interleave(2, dim=-1) - 128.0
    rgb = torch.einsum('ij,bjhw->bihw', _const('ycc2rgb', _YCC2RGB, dev), torch.cat([y.unsqueeze(1), c], 1))
    return (torch.clamp(rgb, 0, 255) / 255.0)[..., :h, :w].to(x.dtype)
