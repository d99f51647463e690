"""ONNX export of a generator, checked against PyTorch in onnxruntime.

The exported graph takes what ``srkit-infer`` takes: ``input (B,C,H,W) RGB float in [0,1]``
(H and W multiples of ``size_multiple``), and returns ``output (B,C,H*s,W*s)`` in [0,1]; a
translation network's [-1, 1] mapping is part of the graph.  The model's metadata
(``srkit_arch``, ``scale``, ``size_multiple``) goes into the ONNX file's metadata props.
"""
from __future__ import annotations

import json
import os
import warnings
from typing import Optional

import numpy as np
import torch
from torch import nn

from .errors import UserError
from .inference import load_generator, size_multiple
from .utils.fileio import atomic_path


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


def sample_image(size: int, channels: int, path: Optional[str] = None) -> np.ndarray:
    """``(1,C,S,S)`` float32 in [0,1]: a centre crop of ``path``, or of a photo bundled with
    scikit-image (nothing is downloaded)."""
    from .utils.imgio import read_image
    if path:
        img = read_image(path)
    else:
        from skimage import data
        img = data.astronaut().astype(np.float32) / 255.0
    h, w = img.shape[:2]
    if min(h, w) < size:
        raise UserError(f'{path or "the sample image"}: {h}x{w} is smaller than --size {size}')
    top, left = (h - size) // 2, (w - size) // 2
    crop = img[top:top + size, left:left + size]
    if channels == 1:
        crop = crop @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        crop = crop[..., None]
    return np.ascontiguousarray(crop.transpose(2, 0, 1)[None], dtype=np.float32)


def export_onnx(model: str, out: str, opset: int = 17, fp16: bool = False, dynamic: bool = False,
                size: int = 64, image: Optional[str] = None, param_key: Optional[str] = None,
                tolerance: Optional[float] = None) -> dict:
    """Export ``model`` (any checkpoint srkit-infer reads) to ``out`` and run it in
    onnxruntime (CPU) on an image, against PyTorch in float32.  Returns
    ``{'max_diff', 'mean_diff', 'tolerance', 'bytes', 'arch', 'scale'}``; raises
    :class:`UserError` (and writes nothing) when the difference exceeds the tolerance."""
    import onnx
    import onnxruntime as ort
    net, cfg, scale = load_generator(model, param_key, 'cpu')
    if hasattr(net, 'n_classes') and hasattr(net, 'latent_dim'):
        raise UserError(f'{model}: a {cfg["type"]} draws images from labels; only image-to-image networks export')
    mult = size_multiple(net)
    size = -(-size // mult) * mult
    channels = int(cfg.get('num_in_ch', cfg.get('input_nc', 3)))
    x = torch.from_numpy(sample_image(size, channels, image))
    unit = _Unit(net).eval()
    with torch.no_grad():
        want = unit(x).clamp(0, 1).numpy()
    export_net = unit.half() if fp16 else unit
    example = x.half() if fp16 else x
    axes = {'input': {0: 'batch', 2: 'height', 3: 'width'},
            'output': {0: 'batch', 2: 'out_height', 3: 'out_width'}} if dynamic else None
    tolerance = tolerance if tolerance is not None else (2e-2 if fp16 else 1e-4)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with atomic_path(out) as tmp:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')  # the TorchScript exporter's deprecation and tracer notes
            torch.onnx.export(export_net, (example,), tmp, opset_version=opset, input_names=['input'],
                              output_names=['output'], dynamic_axes=axes, dynamo=False)
        proto = onnx.load(tmp)
        for k, v in {'srkit_arch': json.dumps(cfg, sort_keys=True), 'scale': str(scale),
                     'size_multiple': str(mult), 'value_range': '0,1'}.items():
            proto.metadata_props.add(key=k, value=v)
        onnx.checker.check_model(proto)
        onnx.save(proto, tmp)
        session = ort.InferenceSession(tmp, providers=['CPUExecutionProvider'])
        got = session.run(None, {'input': example.numpy()})[0].astype(np.float32).clip(0, 1)
        diff = np.abs(got - want)
        if got.shape != want.shape or float(diff.max()) > tolerance:
            raise UserError(f'{out}: onnxruntime differs from PyTorch by {float(diff.max()):.3g} '
                            f'(tolerance {tolerance:g}); nothing written')
        nbytes = os.path.getsize(tmp)
    return {'max_diff': float(diff.max()), 'mean_diff': float(diff.mean()), 'tolerance': tolerance,
            'bytes': nbytes, 'arch': cfg, 'scale': scale, 'size': size}
