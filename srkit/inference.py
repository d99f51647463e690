"""The library behind srkit-infer, srkit-eval and validation: load a generator from any
checkpoint srkit reads, and run it on decoded images.

``load_generator`` rebuilds the network from srkit's metadata, else from the keys (the
architectures' own ``detect``/``convert_keys``).  ``run_generator`` maps the network's
value range, pads to its size multiple and tiles large images.  ``read_input`` and
``upscale_image`` are the one path from an image file to an upscaled image (EXIF
orientation, alpha, 16-bit), shared by the tools.  :func:`upscale_folder` is ``srkit-infer``:
an :class:`UpscaleRequest` in, an :class:`UpscaleResult` out, nothing printed (messages name
the request's fields; a command line maps them to its flags).  :func:`interpolate_checkpoints`
(``srkit-interp``) and :func:`sample_labels` (``srkit-sample``) have the same shape.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .archs import build_network
from .archs.detect import identify
from .errors import DataError, UserError
from .utils.checkpoint import check_compatible, check_dtypes, extract_state_dict, interpolate, load_checkpoint
from .utils.imgio import (Decoded, apply_orientation, decode, exif_orientation, img2tensor, read_bytes, tensor2img,
                          to_uint)
from .utils.naming import name
from .utils.onnxnet import OnnxNet, is_onnx_path
from .utils.tiling import tiled_forward

Progress = Callable[[str, int, int], None]  # (stage, done, total), e.g. a progress bar's update


def load_generator(path: str, param_key: Optional[str] = None, device='cpu', channels_last: bool = False,
                   dni: Optional[tuple[str, float]] = None, arch_overrides: Optional[dict] = None):
    """Load a generator checkpoint for inference: ``(net in eval mode, cfg, scale)``.
    ``channels_last``: convolution weights in NHWC order, which oneDNN (CPU) and cuDNN
    (tensor cores) run faster; results differ from NCHW only by float rounding.
    ``dni = (path_b, alpha)``: the weights ``(1 - alpha) * path + alpha * path_b`` (network
    interpolation; Real-ESRGAN's denoise strength between its wdn and plain models).
    ``arch_overrides``: constructor arguments the keys cannot tell (a U-Net's ``use_dropout``),
    applied to an architecture read from the keys; one that contradicts srkit's metadata is refused.
    An ``.onnx`` file (srkit-export's) runs in onnxruntime (:class:`~srkit.utils.onnxnet.OnnxNet`)."""
    if is_onnx_path(path):
        if dni is not None or arch_overrides:
            raise UserError(f'{path}: an ONNX graph is fixed; network interpolation and architecture settings '
                            'need the .pth it was exported from')
        net = OnnxNet(path, device)
        return net, net.srkit_config, net.scale
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
                raise UserError(f'{path}: {name("dni")} needs one of srkit\'s own architectures') from None
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
    net_name = net.config['type'] if hasattr(net, 'config') else type(net).__name__
    if dtype == torch.float16 and not getattr(net, 'supports_half', True):
        raise UserError(f'{name("precision")} fp16: {net_name} does not support fp16 (use bf16 or fp32)')
    if dtype == torch.bfloat16 and not getattr(net, 'supports_bfloat16', True):
        raise UserError(f'{name("precision")} bf16: {net_name} does not support bf16 (use fp32)')


def describe(cfg: dict, scale: int) -> str:
    """``RRDBNet x4 (num_feat 64, num_block 23, ...)``: what was built, for the log."""
    args = ', '.join(f'{k} {v}' for k, v in cfg.items() if k != 'type')
    return f'{cfg.get("type")} x{scale}' + (f' ({args})' if args else '')


def size_multiple(net) -> int:
    """The input-size multiple the network declares (U-Net, ResNet, pixel-unshuffle RRDBNet), else 1."""
    return int(getattr(net, 'size_multiple', 1) or 1)


def run_generator(net, x, tile: int = 0, overlap: int = 32, dtype=None, progress=None, sink=None):
    """``(B,C,H,W)`` in [0,1] through an image-to-image generator: the network's own value
    range (``value_range``, [-1,1] for the translation nets) on the way in and out, and
    padding to its size multiple, cropped off afterwards.

    With ``tile > 0`` the image stays where it is (the CPU) and tiles of ``tile`` pixels,
    overlapping by ``overlap`` and blended (:func:`srkit.utils.tiling.tiled_forward`), go to
    the network's device one at a time.  ``dtype``: the precision the network runs in.
    Returns float32 on ``x``'s device; or, given ``sink(row, block)``, hands the output over in
    finished rows, ``block (B,C',n,W*s)`` float32 on the CPU, and returns None (tiled, one row of
    tiles is held at a time; see ``tiled_forward``).
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
    padded_w = x.shape[-1]

    def fn(t):
        y = net(t * (hi - lo) + lo) if mapped else net(t)
        return (y - lo) / (hi - lo) if mapped else y

    def cropped(row, block):  # the padding's rows and columns are not the image's
        s = block.shape[-1] // padded_w
        if row < h * s:
            sink(row, block[..., : h * s - row, : w * s])
    if tile > 0:
        y = tiled_forward(fn, x.cpu(), tile, overlap, device, dtype, mult, progress,
                          cropped if sink is not None else None)
        if sink is not None:
            return None
        y = y.to(x.device)
    else:
        y = fn(x.to(device=device, dtype=dtype)).float()
        if sink is not None:
            cropped(0, y.cpu())
            return None
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


def image_channels(net, label: str = '') -> tuple[int, int]:
    """``(in, out)``: the channels an image-to-image network reads and writes, 1 (gray), 3 (RGB)
    or 4 (RGBA), from its config (srkit's ``num_in_ch``/``num_out_ch``, the translation nets'
    ``input_nc``/``output_nc``, BasicSR's ``in_nc``/``out_nc``, spandrel's ``input_channels``/
    ``output_channels``); 3 where it names none, every srkit architecture's default.  Other
    counts are refused (UserError naming ``label``, else the network's class)."""
    cfg = getattr(net, 'srkit_config', None) or getattr(net, 'config', None) or {}

    def first(*keys) -> int:
        return next((cfg[k] for k in keys if isinstance(cfg.get(k), int)), 3)
    cin = first('num_in_ch', 'input_nc', 'in_nc', 'input_channels')
    cout = first('num_out_ch', 'output_nc', 'out_nc', 'output_channels')
    if cin not in (1, 3, 4) or cout not in (1, 3, 4):
        raise UserError(f'{label or type(net).__name__}: a network of {cin} input and {cout} output channels; '
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
                  progress: Optional[Callable] = None, rows: Optional[Callable] = None) -> Optional[np.ndarray]:
    """A decoded image upscaled, ready to encode: ``(H*s,W*s,3)`` BGR, or ``(H*s,W*s,4)`` BGRA
    when the image has an alpha channel, uint16 for a 16-bit image and uint8 otherwise, rounded
    as :func:`srkit.utils.imgio.to_uint` rounds.  The network (``net``; None: MATLAB bicubic)
    runs on what it reads (:func:`network_input`); the alpha is upscaled bicubically.  A
    1-channel output is gray; a 4-channel one gives the alpha when the image has one (else it
    is dropped: the output keeps the input's channels).

    Tiled (``tile > 0``), the output is made a row of tiles at a time (``run_generator``'s
    ``sink``), so the host holds one row of tiles in float, not the whole output in float (4
    bytes a value, and its rounding's temporaries).  ``rows(block)``, where
    :func:`streams_rows` says it can: the integer rows go there as they finish, top to
    bottom, ``(n,W*s,C)`` in RGB(A) order, and nothing is returned or held whole (a
    :class:`~srkit.utils.imgio.PngRows` writes them)."""
    from degradations import imresize
    bits = 16 if img.bit_depth == 16 else 8
    maxv, kind = float(2 ** bits - 1), np.uint16 if bits == 16 else np.uint8
    h, w = img.rgb.shape[:2]
    if rows is not None and not streams_rows(net, img):
        raise ValueError('upscale_image: rows need a network that gives every channel')
    out = None if rows else np.empty((h * scale, w * scale, 3 if img.alpha is None else 4), kind)
    alpha_done = False
    if net is None:
        out[..., :3] = to_uint(np.clip(imresize(img.rgb, scale), 0, 1), bits)
    else:
        cin, cout = image_channels(net)
        keep = 3 if img.alpha is None else 4

        def put(row, block):  # (1,cout,n,W*s) float rows, RGB(A) -> the integer rows
            q = block[0].clamp_(0, 1).mul_(maxv).round_().permute(1, 2, 0).numpy()
            if rows is not None:
                rows(np.repeat(q, 3, 2).astype(kind) if cout == 1 else q[..., :keep].astype(kind))
                return
            done = out[row:row + q.shape[0]]
            done[..., :3] = q if cout == 1 else q[..., 2::-1]
            if cout == 4 and img.alpha is not None:
                done[..., 3] = q[..., 3]
        with torch.no_grad():
            if tile:  # tiles are cut from the (H,W,C) array as it is: no (C,H,W) copy of the image
                x = torch.from_numpy(network_input(img, cin)).permute(2, 0, 1).unsqueeze(0)
            else:
                x = img2tensor(network_input(img, cin)).unsqueeze(0)
                x = x.to(device if device is not None else next(net.parameters()).device)
            run_generator(net, x, tile, overlap, dtype, progress, sink=put)
            del x
        alpha_done = cout == 4
    if img.alpha is not None and not alpha_done:
        out[..., 3] = to_uint(np.clip(imresize(img.alpha, scale), 0, 1), bits)
    return out


def streams_rows(net, img: Decoded) -> bool:
    """Whether :func:`upscale_image` can hand ``img``'s upscale over in rows: a network that
    gives every channel the output keeps (not bicubic, whose whole-image resize an alpha would
    also need)."""
    return net is not None and (img.alpha is None or image_channels(net)[1] == 4)


# ------------------------------------------------------------------ srkit-infer
def pick_network_file(model: str, net: str | None) -> str:
    """``model`` itself, or with ``net``: the newest ``net_<net>_<iter>.pth`` (or
    ``.safetensors``) of an experiment folder (or its ``models/``), pytorch-CycleGAN-and-pix2pix's
    ``latest_net_<NET>.pth`` (else the newest ``<epoch>_net_<NET>.pth``) in its checkpoint
    folder, or the sibling of a ``net_<x>_<iter>.pth`` file."""
    import glob
    import re
    if os.path.isdir(model):
        if net is None:
            raise UserError(f'{model}: a folder; name the network with {name("net")} (g, g_a, g_b ...)')
        folder = os.path.join(model, 'models') if os.path.isdir(os.path.join(model, 'models')) else model
        found = [(int(m.group(1)), p) for p in glob.glob(os.path.join(folder, f'net_{net}_*'))
                 if (m := re.fullmatch(rf'net_{re.escape(net)}_(\d+)\.(pth|safetensors)', os.path.basename(p)))]
        if found:
            return max(found)[1]
        ref = net.upper()  # the reference's names: G, G_A, D_B ...
        latest = os.path.join(folder, f'latest_net_{ref}.pth')
        if os.path.exists(latest):
            return latest
        epochs = [(int(m.group(1)), p) for p in glob.glob(os.path.join(folder, f'*_net_{ref}.pth'))
                  if (m := re.fullmatch(rf'(\d+)_net_{re.escape(ref)}\.pth', os.path.basename(p)))]
        if epochs:
            return max(epochs)[1]
        raise UserError(f'{folder}: no net_{net}_<iter>.pth, latest_net_{ref}.pth or <epoch>_net_{ref}.pth files')
    if net is None:
        return model
    m = re.fullmatch(r'net_(\w+?)_(\d+)\.(pth|safetensors)', os.path.basename(model))
    if m is None:
        raise UserError(f'{model}: {name("net")} {net} needs an experiment folder or a net_<name>_<iter>.pth file')
    sibling = os.path.join(os.path.dirname(model), f'net_{net}_{m.group(2)}.{m.group(3)}')
    if not os.path.exists(sibling):
        raise UserError(f'{sibling}: no such checkpoint ({name("net")} {net})')
    return sibling


@dataclass
class UpscaleRequest:
    """What :func:`upscale_folder` does (``srkit-infer``'s options).

    ``model``: a generator checkpoint, an experiment folder (with ``net``), or ``'bicubic'``
    (with ``scale``); ``input``: an image or a folder of images; ``output``: the folder the
    ``<stem>.png`` outputs go to.  ``param_key``, ``device`` (default: CUDA if there is one),
    ``tile``/``tile_overlap`` (input pixels; 0: whole images), ``precision`` (fp32, fp16, bf16).
    ``net``: which network of an experiment (g, g_a ...).  Network interpolation: ``dni_model``
    with its weight ``dni``, or Real-ESRGAN's ``denoise_strength``.  ``use_dropout``: what a
    U-Net's keys cannot tell; ``inference_mode``: ``eval`` or ``train`` (test-time dropout).
    ``backend``: ``torch``, ``onnxruntime`` (an ``.onnx`` file of srkit-export, or a checkpoint
    exported in memory), or ``auto``: onnxruntime for ``.onnx`` files, PyTorch for checkpoints
    (:func:`pick_runtime`).  On the CPU, call :func:`srkit.utils.hostmem.keep_freed_memory` first,
    as srkit-infer does: PyTorch is as fast as onnxruntime only with it (docs/benchmarks.md)."""

    model: str
    input: str
    output: str
    scale: Optional[int] = None
    param_key: Optional[str] = None
    device: Optional[str] = None
    tile: int = 0
    tile_overlap: int = 32
    precision: str = 'fp32'
    net: Optional[str] = None
    dni_model: Optional[str] = None
    dni: Optional[float] = None
    denoise_strength: Optional[float] = None
    use_dropout: Optional[bool] = None
    inference_mode: str = 'eval'
    backend: str = 'auto'


BACKENDS = ('auto', 'torch', 'onnxruntime')


@dataclass
class UpscaleResult:
    """What :func:`upscale_folder` did: ``network`` (the file run; None for bicubic) and its
    ``description``, ``interpolated_with`` (the DNI partner), ``written`` (output paths),
    ``failed`` (one line per input that could not be read: skipped), ``warnings``."""

    output: str
    network: Optional[str] = None
    description: Optional[str] = None
    interpolated_with: Optional[str] = None
    written: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


def output_path(output: str, input_file: str) -> str:
    """Where :func:`upscale_folder` writes the upscale of ``input_file``: ``output/<stem>.png``."""
    return os.path.join(output, os.path.splitext(os.path.basename(input_file))[0] + '.png')


def list_inputs(path: str) -> list[str]:
    """The image files of a folder (one per stem), or ``[path]`` for a file."""
    from .utils.imgio import images_by_stem
    if os.path.isdir(path):
        try:
            files = [os.path.join(path, f) for f in images_by_stem(path).values()]
        except DataError as e:
            raise UserError(str(e)) from None
        if not files:
            raise UserError(f'{path}: no images found')
        return files
    if not os.path.exists(path):
        raise UserError(f'{path}: no such file or directory')
    return [path]


def _dni(r: UpscaleRequest, model: str, warnings: list[str]) -> Optional[tuple[str, float]]:
    """``(B, alpha)`` from ``dni_model``/``dni`` or ``denoise_strength``, or None."""
    if r.denoise_strength is not None:
        if r.dni_model or r.dni is not None:
            raise UserError(f'{name("denoise_strength")}: give it or {name("dni_model")}/{name("dni")}, not both')
        if not 0 <= r.denoise_strength <= 1:
            raise UserError(f'{name("denoise_strength")}: must be in [0, 1], got {r.denoise_strength}')
        base = os.path.basename(model)
        if 'realesr-general-x4v3' not in base:
            raise UserError(f'{name("denoise_strength")}: {model} is not realesr-general-x4v3 '
                            f'(use {name("dni_model")}/{name("dni")})')
        wdn = os.path.join(os.path.dirname(model), base.replace('realesr-general-x4v3', 'realesr-general-wdn-x4v3'))
        if not os.path.exists(wdn):
            raise UserError(f'{name("denoise_strength")}: put realesr-general-wdn-x4v3 beside the model, at {wdn}')
        return wdn, 1.0 - r.denoise_strength
    if (r.dni_model is None) != (r.dni is None):
        raise UserError(f'{name("dni_model")} and {name("dni")} go together')
    if r.dni_model is None:
        return None
    if not 0 <= r.dni <= 1:
        warnings.append(f'{name("dni")} {r.dni} is outside [0, 1]: extrapolating')
    return r.dni_model, r.dni


def _checked_tiles(r: UpscaleRequest, device) -> torch.dtype:
    """The network's dtype; tile sizes and precision checked against the device."""
    if r.tile < 0 or r.tile_overlap < 0:
        raise UserError(f'{name("tile")} and {name("tile_overlap")}: must be >= 0')
    if r.tile and r.tile_overlap >= r.tile:
        raise UserError(f'{name("tile_overlap")} {r.tile_overlap}: must be smaller than {name("tile")} {r.tile}')
    if r.precision == 'fp16' and device.type == 'cpu':
        raise UserError(f'{name("precision")} fp16: needs a GPU ({name("device")} cuda); use bf16 or fp32 on the CPU')
    return {'fp32': torch.float32, 'fp16': torch.float16, 'bf16': torch.bfloat16}[r.precision]


def _check_backend(r: UpscaleRequest, model: str, dtype) -> None:
    """The backend the request names fits the file: onnxruntime runs srkit-export's ``.onnx``
    files as they were exported (no precision, interpolation or train mode of its own)."""
    if r.backend not in BACKENDS:
        raise UserError(f'{name("backend")} {r.backend!r}: one of {", ".join(BACKENDS)}')
    onnx = is_onnx_path(model)
    if r.backend == 'torch' and onnx:
        raise UserError(f'{model}: an ONNX file runs in onnxruntime ({name("backend")} onnxruntime or auto); '
                        'PyTorch runs the .pth it was exported from')
    if (onnx or r.backend == 'onnxruntime') and dtype != torch.float32:
        raise UserError(f'{name("precision")} {r.precision}: an ONNX graph runs in the precision it was exported in '
                        '(srkit-export writes fp16 graphs too)')
    if (onnx or r.backend == 'onnxruntime') and r.inference_mode == 'train':
        raise UserError(f'{name("inference_mode")} train: an ONNX graph is exported in eval mode; use PyTorch')


def pick_runtime(net, cfg: dict, scale: int, device, backend: str = 'auto', label: str = ''):
    """The network to run for ``backend``: ``net`` itself (PyTorch: ``torch`` and ``auto``), or, for
    ``onnxruntime``, the same network exported in memory and run there (:meth:`OnnxNet.from_network`;
    a network it cannot take is a :class:`UserError`).  An ``.onnx`` file is already onnxruntime's.

    ``auto`` keeps PyTorch: with the tools' allocator setting (:func:`srkit.utils.hostmem.keep_freed_memory`),
    channels_last PyTorch ran the released RRDBNet and SRVGGNetCompact as fast as onnxruntime or
    faster on a 2-core CPU (``scripts/bench/infer_ncnn.py``, docs/benchmarks.md), without the
    export's seconds at load (2-4 s for a 23-block RRDBNet)."""
    if isinstance(net, OnnxNet) or backend != 'onnxruntime':
        return net
    if isinstance(net, SpandrelNet):
        raise UserError(f'{label}: a spandrel architecture runs in PyTorch only ({name("backend")} torch or auto)')
    return OnnxNet.from_network(net, cfg, scale, image_channels(net, label)[0], label, torch.device(device))


def _network(r: UpscaleRequest, device, dtype, result: UpscaleResult):
    """``(net or None for bicubic, scale)``, loaded and checked as :func:`upscale_folder` runs it."""
    if r.model == 'bicubic':
        if not r.scale:
            raise UserError(f'{name("scale")} is required with {name("model")} bicubic')
        return None, r.scale
    model = pick_network_file(r.model, r.net)
    _check_backend(r, model, dtype)
    arch = {'use_dropout': bool(r.use_dropout)} if r.use_dropout is not None else None
    dni = _dni(r, model, result.warnings)
    net, cfg, scale = load_generator(model, r.param_key, device, channels_last=True, dni=dni, arch_overrides=arch)
    if hasattr(net, 'n_classes') and hasattr(net, 'latent_dim'):
        raise UserError(f'{r.model}: a {cfg["type"]} draws images from labels; use srkit-sample')
    result.network, result.description = model, describe(cfg, scale) + (
        ' in onnxruntime' if isinstance(net, OnnxNet) else '')
    result.interpolated_with = dni[0] if dni else None
    check_precision(net, dtype)
    image_channels(net, model)  # one it cannot feed stops here, not at the first image
    net.train(r.inference_mode == 'train')
    net = pick_runtime(net.to(dtype), cfg, scale, device, r.backend, model)
    if isinstance(net, OnnxNet) and not is_onnx_path(model):
        result.description += ', in onnxruntime'
    return net, scale


def upscale_folder(request: UpscaleRequest, progress: Optional[Progress] = None) -> UpscaleResult:
    """Upscale every image of ``request.input`` into ``request.output`` (see
    :class:`UpscaleRequest`).  An input that cannot be read is skipped and listed in the
    result's ``failed``; a bad request raises :class:`UserError` before anything is written.
    ``progress(stage, done, total)``: stage ``infer`` over the images, ``tiles`` within one."""
    from .utils.device import pick_device
    from .utils.fileio import atomic_path, check_apart, make_output_dir
    from .utils.imgio import PngRows, write_encoded
    r = request
    device = pick_device(r.device, name('device'))
    dtype = _checked_tiles(r, device)
    result = UpscaleResult(r.output)
    net, scale = _network(r, device, dtype, result)
    files = list_inputs(r.input)
    if os.path.isdir(r.input):
        check_apart(r.output, [r.input], name('output'))
    elif os.path.realpath(output_path(r.output, r.input)) == os.path.realpath(r.input):
        raise UserError(f'{name("output")} {r.output}: would overwrite the input {r.input}; write to another folder')
    make_output_dir(r.output, name('output'))
    tiles = (lambda done, total: progress('tiles', done, total)) if progress and r.tile else None
    for n, f in enumerate(files):
        if progress:
            progress('infer', n, len(files))
        try:
            img = read_input(f)
            path = output_path(r.output, f)
            if r.tile and streams_rows(net, img):  # PNG rows written as they finish (bounded memory)
                with atomic_path(path) as tmp, open(tmp, 'wb') as fh:
                    h, w = img.rgb.shape[:2]
                    with PngRows(fh, w * scale, h * scale, 3 if img.alpha is None else 4, img.bit_depth) as png:
                        upscale_image(net, img, scale, device, r.tile, r.tile_overlap, dtype, tiles, png.write)
            else:
                write_encoded(path, upscale_image(net, img, scale, device, r.tile, r.tile_overlap, dtype, tiles))
            result.written.append(output_path(r.output, f))
        except DataError as e:
            result.failed.append(str(e))
    if progress:
        progress('infer', len(files), len(files))
    return result


# ------------------------------------------------------------------ srkit-interp
PARAM_KEYS = ('params', 'params_ema')


def _weights(ckpt, path) -> dict[str, dict]:
    """``{param_key: state_dict}`` of a checkpoint; a raw dict counts as ``params``."""
    def own_keys(sd):  # another project's layout of a known architecture, in srkit's (BasicSR's) keys
        try:
            return identify(sd, path)[1]
        except UserError:
            return sd
    found = [k for k in PARAM_KEYS if isinstance(ckpt, dict) and isinstance(ckpt.get(k), dict)]
    if not found:
        return {'params': own_keys(extract_state_dict(ckpt, None, path)[0])}
    return {k: own_keys(extract_state_dict(ckpt, k, path)[0]) for k in found}


def interpolate_files(path_a: str, path_b: str, alphas: Sequence[float]) -> list[dict]:
    """One checkpoint per alpha: ``(1 - alpha) * A + alpha * B`` in ``params`` and ``params_ema``
    (where both files have them; else what each has), A's srkit metadata kept."""
    ca, cb = load_checkpoint(path_a), load_checkpoint(path_b)
    wa, wb = _weights(ca, path_a), _weights(cb, path_b)
    keys = [k for k in PARAM_KEYS if k in wa and k in wb]
    if not keys:
        # one file has only params_ema, the other only params: pair what exists
        keys = ['params']
        wa = {'params': next(iter(wa.values()))}
        wb = {'params': next(iter(wb.values()))}
    outs = []
    for alpha in alphas:
        out = {k: interpolate(wa[k], wb[k], alpha, path_a, path_b) for k in keys}
        if isinstance(ca, dict) and isinstance(ca.get('srkit'), dict):
            out['srkit'] = dict(ca['srkit'], interpolation={'a': path_a, 'b': path_b, 'alpha': alpha})
        outs.append(out)
    return outs


@dataclass
class InterpRequest:
    """What :func:`interpolate_checkpoints` does (``srkit-interp``): checkpoints ``a`` (alpha 0)
    and ``b`` (alpha 1), the ``alphas``; written to ``out`` (one alpha) or into ``out_dir`` as
    ``<b's stem>_alpha<alpha><b's extension>`` (the format follows the file name)."""

    a: str
    b: str
    alphas: Sequence[float]
    out: Optional[str] = None
    out_dir: Optional[str] = None


@dataclass
class InterpResult:
    """``files``: ``(alpha, path)`` of each checkpoint written; ``extrapolated``: the alphas
    outside [0, 1]."""

    files: list[tuple[float, str]] = field(default_factory=list)
    extrapolated: list[float] = field(default_factory=list)


def interpolate_checkpoints(request: InterpRequest) -> InterpResult:
    """Network interpolation (ESRGAN) of two checkpoints, one file per alpha; every output is
    checked (not an input, not a device) before any work."""
    from .utils.checkpoint import save_checkpoint
    from .utils.fileio import check_replaceable
    r = request
    alphas = [float(al) for al in r.alphas]
    if r.out is not None and len(alphas) != 1:
        raise UserError(f'{name("out")}: one file, for one alpha (got {len(alphas)}); use {name("out_dir")}')
    if r.out is None and not r.out_dir:
        raise UserError(f'{name("out")} or {name("out_dir")} is required')
    stem, ext = os.path.splitext(os.path.basename(r.b))
    ext = ext if ext.lower() in ('.pth', '.safetensors') else '.pth'
    paths = [r.out] if r.out is not None else [os.path.join(r.out_dir, f'{stem}_alpha{al:g}{ext}') for al in alphas]
    for path in paths:  # before any work: an output that is an input (or a device) is refused
        check_replaceable(path, (r.a, r.b), name('out') if r.out is not None else f'{name("out_dir")} file')
    result = InterpResult(extrapolated=[al for al in alphas if not 0.0 <= al <= 1.0])
    for al, out, path in zip(alphas, interpolate_files(r.a, r.b, alphas), paths):
        save_checkpoint(out, path)
        result.files.append((al, path))
    return result


# ------------------------------------------------------------------ srkit-sample
MAX_PER_LABEL = 1000  # the samples are drawn in one batch


@dataclass
class SampleRequest:
    """What :func:`sample_labels` draws (``srkit-sample``): from the conditional generator
    ``model``, ``per_label`` samples of each of ``labels`` (None: every class) with ``seed``,
    as a grid image ``out`` (one row per label), and each sample as ``out_dir/<label>_<n>.png``."""

    model: str
    out: str
    labels: Optional[Sequence[int]] = None
    per_label: int = 8
    out_dir: Optional[str] = None
    seed: int = 0
    param_key: Optional[str] = None
    device: Optional[str] = None


@dataclass
class SampleResult:
    """``grid``: the grid written; ``labels``: its rows; ``samples``: the files in ``out_dir``."""

    grid: str
    labels: list[int]
    per_label: int
    seed: int
    samples: list[str] = field(default_factory=list)


def sample_labels(request: SampleRequest) -> SampleResult:
    """Draw the request's samples; the same seed gives the same grid on any device (the noise is
    drawn on the CPU)."""
    from torchvision.utils import make_grid
    from .utils.device import pick_device
    from .utils.fileio import check_replaceable
    from .utils.imgio import write_image
    r = request
    if not 1 <= r.per_label <= MAX_PER_LABEL:
        raise UserError(f'{name("per_label")}: must be from 1 to {MAX_PER_LABEL}, got {r.per_label}')
    check_replaceable(r.out, [r.model], name('out'))
    device = pick_device(r.device, name('device'))
    net, cfg, _ = load_generator(r.model, r.param_key, device)
    if not (hasattr(net, 'n_classes') and hasattr(net, 'latent_dim')):
        raise UserError(f'{r.model}: a {cfg["type"]} is not a conditional generator; use srkit-infer')
    labels = list(range(net.n_classes)) if r.labels is None else [int(v) for v in r.labels]
    if not labels:
        raise UserError(f'{name("labels")}: no labels given')
    bad = [v for v in labels if not 0 <= v < net.n_classes]
    if bad:
        raise UserError(f'{name("labels")}: {bad[0]} is out of range; the generator knows labels '
                        f'0..{net.n_classes - 1}')
    gen = torch.Generator().manual_seed(r.seed)
    z = torch.randn(len(labels) * r.per_label, net.latent_dim, generator=gen).to(device)
    y = torch.tensor(labels).repeat_interleave(r.per_label).to(device)
    with torch.no_grad():
        imgs = ((net(z, y) + 1) / 2).clamp(0, 1).cpu()
    write_image(r.out, tensor2img(make_grid(imgs, nrow=r.per_label, padding=2, pad_value=1.0)))
    result = SampleResult(r.out, labels, r.per_label, r.seed)
    if r.out_dir:
        for i, img in enumerate(imgs):
            path = os.path.join(r.out_dir, f'{int(y[i])}_{i % r.per_label}.png')
            write_image(path, tensor2img(img.expand(3, -1, -1).contiguous()))
            result.samples.append(path)
    return result
