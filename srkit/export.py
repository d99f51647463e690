"""ONNX export of a generator, checked against PyTorch in onnxruntime.

The exported graph takes what ``srkit-infer`` takes: ``input (B,C,H,W) float in [0,1]`` (C the
network's input channels: 3 for RGB, 1 for grey, 4 ...), any H and W, and returns
``output (B,C',H*s,W*s)`` in [0,1]; a translation network's [-1, 1] mapping is part of the graph.
A network that needs sizes in multiples of ``size_multiple`` (pixel-unshuffle RRDBNet, U-Net,
ResNet generator) gets srkit-infer's padding inside the graph: reflect up to the multiple
(replicate when the image is smaller than the padding), output cropped to ``H*s, W*s``.  The
model's metadata (``srkit_arch``, ``scale``, ``size_multiple``, ``padding``) goes into the ONNX
file's metadata props.

:func:`export_model` is ``srkit-export``: an :class:`ExportRequest` in, an :class:`ExportResult`
out, nothing printed; messages name the request's fields (a command line maps them to its flags).
"""
from __future__ import annotations

import json
import math
import os
import warnings
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
from torch import nn

from .errors import UserError
from .inference import image_channels, load_generator, run_generator, size_multiple
from .utils.imgio import Decoded
from .utils.fileio import atomic_path, check_replaceable, write_failure
from .utils.naming import name
from .utils.onnxnet import is_onnx_path

# Below opset 11 the TorchScript exporter cannot export nearest upsampling with a traced size
# (RRDBNet, compact nets), its bilinear Upsample differs from PyTorch's (MSRResNet), and the
# in-graph padding needs Range and Gather with computed indices.
MIN_OPSET = 11


def opset_range() -> tuple[int, int]:
    """``(lowest, highest)`` opset srkit-export writes with the installed torch and onnx: from
    :data:`MIN_OPSET` up to what torch's TorchScript exporter and onnx's checker both know
    (onnxruntime runs newer opsets than torch's exporter writes)."""
    import onnx
    try:
        from torch.onnx import _constants
        hi = int(_constants.ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET)
    except (ImportError, AttributeError):  # the private constant moved: the highest torch 2.x wrote
        hi = 20
    return MIN_OPSET, min(hi, int(onnx.defs.onnx_opset_version()))


def check_arguments(opset: int, tolerance: Optional[float], size: int) -> None:
    """One line naming the field for an opset outside :func:`opset_range`, a tolerance that is
    negative or not finite (NaN would pass every comparison), or a size below 1."""
    lo, hi = opset_range()
    if not lo <= opset <= hi:
        raise UserError(f'{name("opset")} {opset}: this torch and onnx export opsets {lo} to {hi}')
    if tolerance is not None and not (math.isfinite(tolerance) and tolerance >= 0):
        raise UserError(f'{name("tolerance")} {tolerance}: must be a finite number >= 0')
    if size < 1:
        raise UserError(f'{name("size")} {size}: must be >= 1')


class _Unit(nn.Module):
    """The network between [0, 1] images, whatever range it works in."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net
        self.lo, self.hi = getattr(net, 'value_range', (0.0, 1.0))

    def forward(self, x):
        if (self.lo, self.hi) == (0.0, 1.0):
            return self.net(x)
        return (self.net(x * (self.hi - self.lo) + self.lo) - self.lo) / (self.hi - self.lo)


def _pad_index(n, pad, reflect):
    """Row (or column) indices ``(n+pad,)`` int64 that pad ``n`` rows by ``pad`` at the end:
    ``0..n-1``, then reflected (``n-2, n-3, ...``) where ``reflect``, else the last row repeated."""
    i = torch.arange(n + pad)
    return torch.where(i < n, i, torch.where(reflect, 2 * n - 2 - i, n - 1))


class _PadCrop(nn.Module):
    """``(B,C,H,W)`` in [0,1], any H and W, through ``unit`` as :func:`run_generator` does it:
    padded at the bottom and right to the network's minimum, square and size multiple (reflect,
    or replicate on both axes when either padding is not smaller than the image), the output
    cropped to ``(H*s, W*s)``.  The sizes are tensors, so the exported graph computes the
    padding for each input instead of baking in the traced size's; the padding is a Gather with
    computed indices because ONNX's reflect Pad cannot fall back to replicate."""

    def __init__(self, unit: nn.Module, mult: int, least: int = 0, square: bool = False):
        super().__init__()
        self.unit, self.mult, self.least, self.square = unit, int(mult), int(least), bool(square)

    def forward(self, x):
        shape = torch._shape_as_tensor(x)  # eager: a tensor; traced: ONNX Shape, so H and W stay dynamic
        h, w = shape[2], shape[3]
        th, tw = h.clamp(min=self.least), w.clamp(min=self.least)
        if self.square:
            th = tw = torch.maximum(th, tw)
        ph, pw = (-th) % self.mult + th - h, (-tw) % self.mult + tw - w  # as run_generator: up to the multiple
        reflect = (ph < h) & (pw < w)
        xp = x.index_select(2, _pad_index(h, ph, reflect)).index_select(3, _pad_index(w, pw, reflect))
        y = self.unit(xp)
        s = torch._shape_as_tensor(y)[3] // torch._shape_as_tensor(xp)[3]
        return y[:, :, : h * s, : w * s]


def _first_line(e: BaseException) -> str:
    """An exception's first non-empty line, at most 200 characters (torch's carry graph dumps)."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return (lines[0] if lines else type(e).__name__)[:200]


def _needs_padding(net) -> bool:
    """Whether srkit-infer pads this network's input: a size multiple, a minimum size or a square."""
    return size_multiple(net) > 1 or getattr(net, 'min_size', 0) > 1 or getattr(net, 'square', False)


def sample_image(size: int, channels: int, path: Optional[str] = None) -> np.ndarray:
    """``(1,C,S,S)`` float32 in [0,1]: a centre crop of ``path``, or of a photo bundled with
    scikit-image (nothing is downloaded), as srkit-infer feeds a network of ``channels``
    (:func:`srkit.inference.network_input`: 1, the BT.601 luma; 3, RGB; 4, RGBA, the file's
    alpha or opaque)."""
    from .inference import network_input, read_input
    if path:
        img = read_input(path)
    else:
        from skimage import data
        img = Decoded(data.astronaut().astype(np.float32) / 255.0, None, 8, 3)
    h, w = img.rgb.shape[:2]
    if min(h, w) < size:
        raise UserError(f'{path or "the sample image"}: {h}x{w} is smaller than {name("size")} {size}')
    top, left = (h - size) // 2, (w - size) // 2
    crop = Decoded(img.rgb[top:top + size, left:left + size],
                   None if img.alpha is None else img.alpha[top:top + size, left:left + size],
                   img.bit_depth, img.channels)
    return np.ascontiguousarray(network_input(crop, channels).transpose(2, 0, 1)[None], dtype=np.float32)


def export_onnx(model: str, out: str, opset: int = 17, fp16: bool = False, dynamic: bool = False,
                size: int = 64, image: Optional[str] = None, param_key: Optional[str] = None,
                tolerance: Optional[float] = None) -> dict:
    """Export ``model`` (any checkpoint srkit-infer reads) to ``out`` and run it in
    onnxruntime (CPU) on a ``size`` x ``size`` crop of an image (with ``dynamic``, also on an
    odd-sized crop of it), against srkit-infer's PyTorch path in float32.  Returns
    ``{'max_diff', 'mean_diff', 'tolerance', 'bytes', 'arch', 'scale', 'size', 'sizes'}``; raises
    :class:`UserError` (and writes nothing) when the difference exceeds the tolerance, and
    before loading anything when ``out`` is ``model`` or ``image`` or a device, FIFO or folder."""
    import onnx
    import onnxruntime as ort
    check_arguments(opset, tolerance, size)
    if is_onnx_path(model):
        raise UserError(f'{model}: already an ONNX file; srkit-export reads checkpoints (.pth, .safetensors)')
    inputs = tuple(p for p in (model, image) if p)
    check_replaceable(out, inputs, name('out'))  # before the minutes an export can take
    net, cfg, scale = load_generator(model, param_key, 'cpu')
    if hasattr(net, 'n_classes') and hasattr(net, 'latent_dim'):
        raise UserError(f'{model}: a {cfg["type"]} draws images from labels; only image-to-image networks export')
    mult = size_multiple(net)
    channels = image_channels(net, model)[0]  # what srkit-infer feeds it; other counts refused
    x = torch.from_numpy(sample_image(size, channels, image))
    checks = [x]
    unit = _Unit(net).eval()
    least = getattr(net, 'min_size', 0)
    # a fixed-size graph traced at a size the network takes as it is needs no padding: shapes stay
    # constants (ONNX's adaptive pooling, SAFMN's, exports only with constant sizes)
    padded = _needs_padding(net) and (dynamic or size % mult != 0 or size < least)
    graph = _PadCrop(unit, mult, least, getattr(net, 'square', False)) if padded else unit
    if dynamic and size > 3:
        # odd sizes: a dynamic export promises any height and width (a graph that baked in the traced size,
        # or pads wrongly, fails here instead of in the user's runtime)
        checks.append(x[..., : size - 1, : size - 3])
    wants = []
    for c in checks:  # srkit-infer's path: what the graph must reproduce
        try:
            with torch.no_grad():
                wants.append(run_generator(net, c).clamp(0, 1).numpy())
        except RuntimeError as e:  # the network itself cannot run this input (a spandrel model's own limits)
            raise UserError(f'{model}: the network fails in PyTorch on a {c.shape[1]}-channel '
                            f'{c.shape[2]}x{c.shape[3]} image ({_first_line(e)})') from None
    export_net = graph.half() if fp16 else graph
    examples = [c.half() if fp16 else c for c in checks]
    axes = {'input': {0: 'batch', 2: 'height', 3: 'width'},
            'output': {0: 'batch', 2: 'out_height', 3: 'out_width'}} if dynamic else None
    tolerance = tolerance if tolerance is not None else (2e-2 if fp16 else 1e-4)
    with atomic_path(out, inputs, name('out')) as tmp:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')  # the TorchScript exporter's deprecation and tracer notes
            try:
                torch.onnx.export(export_net, (examples[0],), tmp, opset_version=opset, input_names=['input'],
                                  output_names=['output'], dynamic_axes=axes, dynamo=False)
            except (OSError, MemoryError):
                raise
            except Exception as e:  # an operator this opset (or the exporter) lacks; a full disk is atomic_path's
                if isinstance(e, RuntimeError) and write_failure(e, os.path.dirname(os.path.abspath(out)), out):
                    raise
                raise UserError(f'{model}: torch cannot export it to ONNX opset {opset} '
                                f'({type(e).__name__}: {_first_line(e)})') from None
        proto = onnx.load(tmp)
        for k, v in {'srkit_arch': json.dumps(cfg, sort_keys=True), 'scale': str(scale),
                     'size_multiple': str(mult), 'padding': 'in-graph' if padded else 'none',
                     'value_range': '0,1'}.items():
            proto.metadata_props.add(key=k, value=v)
        onnx.checker.check_model(proto)
        onnx.save(proto, tmp)
        so = ort.SessionOptions()
        so.log_severity_level = 4  # a failed run is reported below in one line, not also logged by onnxruntime
        session = ort.InferenceSession(tmp, so, providers=['CPUExecutionProvider'])
        diffs = []
        for example, want in zip(examples, wants):
            try:
                got = session.run(None, {'input': example.numpy()})[0].astype(np.float32).clip(0, 1)
            except Exception as e:  # onnxruntime's errors derive from Exception only
                detail = ' '.join(str(e).split()).split('Status Message: ')[-1]
                detail = detail.split(' was false. ')[-1][:200]  # the message, not the C++ assertion
                h, w = example.shape[-2:]
                odd = example is not examples[0]  # the traced size ran: the graph kept that size
                hint = (f'; the graph keeps the traced size (export without {name("dynamic")}, at {name("size")})'
                        if odd else '')
                raise UserError(f'{out}: onnxruntime cannot run the exported graph on a {h}x{w} image '
                                f'({detail}){hint}; nothing written') from None
            if got.shape != want.shape:
                raise UserError(f'{out}: onnxruntime gives shape {got.shape}, PyTorch {want.shape}; nothing written')
            diffs.append(np.abs(got - want))
        worst = max(float(d.max()) for d in diffs)
        if not worst <= tolerance:
            raise UserError(f'{out}: onnxruntime differs from PyTorch by {worst:.3g} '
                            f'(tolerance {tolerance:g}); nothing written')
        nbytes = os.path.getsize(tmp)
    return {'max_diff': worst, 'mean_diff': float(np.mean([d.mean() for d in diffs])), 'tolerance': tolerance,
            'bytes': nbytes, 'arch': cfg, 'scale': scale, 'size': size,
            'sizes': [tuple(c.shape[-2:]) for c in checks]}


@dataclass
class ExportRequest:
    """What :func:`export_model` does (``srkit-export``'s options): ``model`` (any checkpoint
    srkit-infer reads) to the ONNX file ``out`` at ``opset``, in ``fp16`` or float32, with
    ``dynamic`` batch, height and width; checked on a ``size`` crop of ``input`` (default: a
    bundled photo) within ``tolerance`` (default 1e-4, with fp16 2e-2)."""

    model: str
    out: str
    opset: int = 17
    fp16: bool = False
    dynamic: bool = False
    input: Optional[str] = None
    size: int = 64
    param_key: Optional[str] = None
    tolerance: Optional[float] = None


@dataclass
class ExportResult:
    """The file written (``out``, ``bytes``), what it holds (``arch``, ``scale``, ``opset``,
    ``fp16``, ``dynamic``), and onnxruntime's difference from PyTorch (``max_diff``,
    ``mean_diff``) on images of ``sizes`` within ``tolerance``."""

    out: str
    arch: dict
    scale: int
    opset: int
    fp16: bool
    dynamic: bool
    bytes: int
    max_diff: float
    mean_diff: float
    tolerance: float
    sizes: list


def export_model(request: ExportRequest) -> ExportResult:
    """:func:`export_onnx` for a request; an output that cannot be written is a :class:`UserError`."""
    r = request
    check_arguments(r.opset, r.tolerance, r.size)  # before loading the model
    try:
        d = export_onnx(r.model, r.out, r.opset, r.fp16, r.dynamic, r.size, r.input, r.param_key, r.tolerance)
    except OSError as e:  # an output folder that cannot be made or written
        raise UserError(f'{r.out}: cannot write ({e.strerror or e})') from None
    return ExportResult(r.out, d['arch'], d['scale'], r.opset, r.fp16, r.dynamic, d['bytes'], d['max_diff'],
                        d['mean_diff'], d['tolerance'], d['sizes'])
