"""The library behind srkit-infer, srkit-eval and validation: load a generator from any
checkpoint srkit reads, and run it on decoded images.

``load_generator`` rebuilds the network from srkit's metadata, else from the keys (the
architectures' own ``detect``/``convert_keys``).  ``run_generator`` maps the network's
value range, pads to its size multiple and tiles large images.  ``read_input`` and
``upscale_image`` are the one path from an image file to an upscaled image (EXIF
orientation, alpha, 16-bit), shared by the tools.
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F

from .archs import build_network
from .archs.detect import identify
from .errors import UserError
from .utils.checkpoint import check_compatible, check_dtypes, extract_state_dict, interpolate, load_checkpoint
from .utils.imgio import Decoded, apply_orientation, decode, exif_orientation, img2tensor, read_bytes, tensor2img
from .utils.tiling import tiled_forward


def load_generator(path: str, param_key: Optional[str] = None, device='cpu', channels_last: bool = False,
                   dni: Optional[tuple[str, float]] = None, arch_overrides: Optional[dict] = None):
    """Load a generator checkpoint for inference: ``(net in eval mode, cfg, scale)``.
    ``channels_last``: convolution weights in NHWC order, which oneDNN (CPU) and cuDNN
    (tensor cores) run faster; results differ from NCHW only by float rounding.
    ``dni = (path_b, alpha)``: the weights ``(1 - alpha) * path + alpha * path_b`` (network
    interpolation; Real-ESRGAN's denoise strength between its wdn and plain models).
    ``arch_overrides``: constructor arguments the keys cannot tell (a U-Net's ``use_dropout``),
    applied to an architecture read from the keys; one that contradicts srkit's metadata is refused."""
    ckpt = load_checkpoint(path)
    sd, _key = extract_state_dict(ckpt, param_key or 'params_ema', path)
    meta = _checked_meta(ckpt.get('srkit') if isinstance(ckpt, dict) else None, path)
    if meta and 'arch' in meta:
        cfg = dict(meta['arch'])
    else:
        try:
            cfg, sd = identify(sd, path)
        except UserError as e:  # not one of srkit's architectures: any spandrel knows
            if dni is not None:
                raise UserError(f'{path}: --dni needs one of srkit\'s own architectures') from None
            net = SpandrelNet.load(sd, path, e)
            net = net.to(device).eval()
            if channels_last:
                net = net.to(memory_format=torch.channels_last)
            return net, net.config, net.scale
    for key, value in (arch_overrides or {}).items():
        if meta and 'arch' in meta and key in cfg and cfg[key] != value:
            raise UserError(f'{path}: its metadata says {key}={cfg[key]}; it was trained that way')
        if key == 'use_dropout' and cfg.get('type') != 'UnetGenerator':
            continue  # a ResNet generator's keys tell (dropout shifts its layer indices)
        cfg[key] = value
    if dni is not None:
        path_b, alpha = dni
        sd_b, _ = extract_state_dict(load_checkpoint(path_b), param_key or 'params_ema', path_b)
        if not (meta and 'arch' in meta):
            sd_b = identify(sd_b, path_b)[1]
        sd = interpolate(sd, sd_b, alpha, path, path_b)
    try:
        with torch.device('meta'):  # the size first: metadata may not ask for more than the file holds
            size = sum(v.numel() for v in build_network(cfg, f'{path}: arch').state_dict().values())
        held = sum(v.numel() for v in sd.values() if isinstance(v, torch.Tensor))
        if size > held * 1.01 + 10_000:
            raise UserError(f'{path}: its metadata describes a {cfg.get("type")} of {size:,} values, but the file '
                            f'holds {held:,}; the metadata is wrong')
        net = build_network(cfg, f'{path}: arch')
    except (TypeError, ValueError, RuntimeError, OverflowError) as e:  # a bad metadata entry
        detail = ' '.join(str(e).split())[:160]
        raise UserError(f'{path}: cannot build {cfg.get("type")} from its metadata ({detail})') from None
    sd = net.adapt_state_dict(type(net).convert_keys(sd))
    check_compatible(net, sd, path, strict=True)
    net.load_state_dict(sd)
    scale = _checked_scale(net, meta, path)
    net = net.to(device).eval()
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    return net, cfg, scale


def _checked_meta(meta, path: str) -> Optional[dict]:
    """srkit's metadata block, type-checked like options: it rebuilds the network, so it is
    untrusted input (a file could ask for a huge or impossible network)."""
    if meta is None:
        return None
    if not isinstance(meta, dict):
        raise UserError(f'{path}: its srkit metadata is a {type(meta).__name__}, not a mapping')
    arch = meta.get('arch')
    if arch is not None and not (isinstance(arch, dict) and isinstance(arch.get('type'), str)):
        raise UserError(f'{path}: its srkit metadata "arch" must be a mapping with a "type" name')
    scale = meta.get('scale')
    if scale is not None and (not isinstance(scale, int) or isinstance(scale, bool) or not 1 <= scale <= 16):
        # a nested value is named by its type: its repr could be megabytes, or recurse past the limit
        got = repr(scale) if isinstance(scale, (int, float, str)) else f'a {type(scale).__name__}'
        raise UserError(f'{path}: its srkit metadata "scale" must be an integer from 1 to 16, got {got}')
    return meta


def _checked_scale(net, meta: Optional[dict], path: str) -> int:
    """The scale tools run ``net`` at: the one it declares (every srkit architecture does),
    else its metadata's.  An upscaling network (x2 and up) whose metadata says another scale is
    refused: its output would not match the size the metadata promises (an alpha channel resized
    by the metadata's factor would not fit the RGB).  A x1 network may carry another: srkit
    records the experiment's scale with every network, and DSGAN's degradation generator, at LR
    resolution, belongs to a x4 experiment."""
    own = getattr(net, 'scale', None)
    declared = isinstance(own, int) and not isinstance(own, bool)
    told = meta.get('scale') if meta else None
    if declared and own != 1 and told is not None and told != own:
        raise UserError(f'{path}: its srkit metadata says scale {told}, but the {type(net).__name__} it holds is '
                        f'x{own}; the metadata is wrong')
    return own if declared else int(told if told is not None else net.scale)


class SpandrelNet(torch.nn.Module):
    """An architecture srkit does not have, loaded by spandrel (SwinIR, HAT, SPAN, OmniSR,
    DAT, RealPLKSR ...), with the metadata srkit's tools read: ``scale``, ``size_multiple``,
    ``min_size``, ``square``, ``value_range`` [0, 1], and whether it runs in fp16/bf16."""

    value_range = (0.0, 1.0)

    def __init__(self, descriptor):
        super().__init__()
        self.model = descriptor.model
        self.scale = int(descriptor.scale)
        req = descriptor.size_requirements
        self.size_multiple, self.min_size, self.square = int(req.multiple_of), int(req.minimum), bool(req.square)
        self.supports_half, self.supports_bfloat16 = descriptor.supports_half, descriptor.supports_bfloat16
        arch = descriptor.architecture
        self.config = {'type': f'spandrel:{arch.id}', 'input_channels': descriptor.input_channels,
                       'output_channels': descriptor.output_channels, 'tags': list(descriptor.tags)}

    @classmethod
    def load(cls, sd: dict, path: str, not_ours: Exception) -> 'SpandrelNet':
        """spandrel's detection on ``sd``; ``not_ours`` (srkit's own verdict) when it fails too."""
        try:
            from spandrel import ImageModelDescriptor, ModelLoader, UnsupportedModelError
        except ImportError:
            raise not_ours from None
        try:
            descriptor = ModelLoader().load_from_state_dict(sd)
        except UnsupportedModelError:
            raise UserError(f'{not_ours}; spandrel does not know it either') from None
        except Exception as e:  # a known architecture whose weights do not fit it
            raise UserError(f'{path}: spandrel could not load it ({type(e).__name__}: {e})') from None
        if not isinstance(descriptor, ImageModelDescriptor) or descriptor.purpose not in ('SR', 'Restoration'):
            raise UserError(f'{path}: a {descriptor.architecture.name} ({descriptor.purpose}) is not an '
                            'image-to-image network srkit runs')
        check_dtypes(descriptor.model.state_dict(), sd, path)  # spandrel has cast them already
        return cls(descriptor)

    def forward(self, x):
        return self.model(x)


def check_precision(net, dtype) -> None:
    """A network that declares it cannot run in fp16/bf16 (spandrel's) is refused in one line."""
    name = net.config['type'] if hasattr(net, 'config') else type(net).__name__
    if dtype == torch.float16 and not getattr(net, 'supports_half', True):
        raise UserError(f'--precision fp16: {name} does not support fp16 (use bf16 or fp32)')
    if dtype == torch.bfloat16 and not getattr(net, 'supports_bfloat16', True):
        raise UserError(f'--precision bf16: {name} does not support bf16 (use fp32)')


def describe(cfg: dict, scale: int) -> str:
    """``RRDBNet x4 (num_feat 64, num_block 23, ...)``: what was built, for the log."""
    args = ', '.join(f'{k} {v}' for k, v in cfg.items() if k != 'type')
    return f'{cfg.get("type")} x{scale}' + (f' ({args})' if args else '')


def size_multiple(net) -> int:
    """The input-size multiple the network declares (U-Net, ResNet, pixel-unshuffle RRDBNet), else 1."""
    return int(getattr(net, 'size_multiple', 1) or 1)


def run_generator(net, x, tile: int = 0, overlap: int = 32, dtype=None, progress=None):
    """``(B,C,H,W)`` in [0,1] through an image-to-image generator: the network's own value
    range (``value_range``, [-1,1] for the translation nets) on the way in and out, and
    padding to its size multiple, cropped off afterwards.

    With ``tile > 0`` the image stays where it is (the CPU) and tiles of ``tile`` pixels,
    overlapping by ``overlap`` and blended (:func:`srkit.utils.tiling.tiled_forward`), go to
    the network's device one at a time.  ``dtype``: the precision the network runs in.
    Returns float32 on ``x``'s device.
    """
    lo, hi = getattr(net, 'value_range', (0.0, 1.0))
    mult = size_multiple(net)
    device = next(net.parameters()).device
    h, w = x.shape[-2:]
    # pad to what the network needs: a multiple of its size multiple, its minimum, a square
    least = getattr(net, 'min_size', 0)
    th, tw = max(h, least), max(w, least)
    if getattr(net, 'square', False):
        th = tw = max(th, tw)
    ph, pw = -th % mult + th - h, -tw % mult + tw - w
    if ph or pw:
        mode = 'reflect' if ph < h and pw < w else 'replicate'
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    mapped = (lo, hi) != (0.0, 1.0)

    def fn(t):
        y = net(t * (hi - lo) + lo) if mapped else net(t)
        return (y - lo) / (hi - lo) if mapped else y
    if tile > 0:
        y = tiled_forward(fn, x.cpu(), tile, overlap, device, dtype, mult, progress).to(x.device)
    else:
        y = fn(x.to(device=device, dtype=dtype)).float()
    s = y.shape[-1] // x.shape[-1]
    return y[..., : h * s, : w * s]


def read_input(path: str) -> Decoded:
    """An image file as viewers show it: decoded (alpha and bit depth kept), EXIF orientation
    applied (OpenCV reads the stored pixels)."""
    data = read_bytes(path)
    img = decode(data, path)
    o = exif_orientation(data)
    if o != 1:
        img = Decoded(apply_orientation(img.rgb, o), None if img.alpha is None else apply_orientation(img.alpha, o),
                      img.bit_depth, img.channels)
    return img


# BT.601 luma, as OpenCV's BGR2GRAY (chaiNNer's conversion for 1-channel models)
LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def image_channels(net, name: str = '') -> tuple[int, int]:
    """``(in, out)``: the channels an image-to-image network reads and writes, 1 (gray), 3 (RGB)
    or 4 (RGBA), from its config (srkit's ``num_in_ch``/``num_out_ch``, the translation nets'
    ``input_nc``/``output_nc``, BasicSR's ``in_nc``/``out_nc``, spandrel's ``input_channels``/
    ``output_channels``); 3 where it names none, every srkit architecture's default.  Other
    counts are refused (UserError naming ``name``, else the network's class)."""
    cfg = getattr(net, 'srkit_config', None) or getattr(net, 'config', None) or {}

    def first(*keys) -> int:
        return next((cfg[k] for k in keys if isinstance(cfg.get(k), int)), 3)
    cin = first('num_in_ch', 'input_nc', 'in_nc', 'input_channels')
    cout = first('num_out_ch', 'output_nc', 'out_nc', 'output_channels')
    if cin not in (1, 3, 4) or cout not in (1, 3, 4):
        raise UserError(f'{name or type(net).__name__}: a network of {cin} input and {cout} output channels; '
                        'srkit runs images of 1 (gray), 3 (RGB) or 4 (RGBA)')
    return cin, cout


def network_input(img: Decoded, channels: int) -> np.ndarray:
    """``(H,W,channels)`` float32 in [0,1] for a network reading ``channels``: 1, the image's
    BT.601 luma; 3, its RGB; 4, RGBA with its alpha, or opaque when it has none."""
    if channels == 1:
        return (img.rgb @ LUMA)[..., None]
    if channels == 4:
        alpha = np.ones(img.rgb.shape[:2], np.float32) if img.alpha is None else img.alpha
        return np.dstack([img.rgb, alpha])
    return img.rgb


def upscale_image(net, img: Decoded, scale: int, device=None, tile: int = 0, overlap: int = 32, dtype=None,
                  progress: Optional[Callable] = None) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """``(RGB (H*s,W*s,3) float32 in [0,1], alpha (H*s,W*s) or None)`` for a decoded image: the
    network (``net``; None: MATLAB bicubic) on what it reads (:func:`network_input`), bicubic on
    the alpha.  A 1-channel output is gray RGB; a 4-channel one gives the alpha when the image
    has one (else it is dropped: the output keeps the input's channels)."""
    from degradations import imresize
    net_alpha = None
    if net is None:
        out = np.clip(imresize(img.rgb, scale), 0, 1)
    else:
        cin, cout = image_channels(net)
        with torch.no_grad():
            x = img2tensor(network_input(img, cin)).unsqueeze(0)
            if not tile:
                x = x.to(device if device is not None else next(net.parameters()).device)
            out = tensor2img(run_generator(net, x, tile, overlap, dtype, progress))  # (H*s,W*s,cout)
        if cout == 4:
            out, net_alpha = out[..., :3], out[..., 3]
        elif cout == 1:
            out = np.repeat(out, 3, axis=2)
    if img.alpha is None:
        return out, None
    return out, net_alpha if net_alpha is not None else np.clip(imresize(img.alpha, scale), 0, 1)
