"""srkit-export's ONNX files run by onnxruntime, in the shape of a generator, so that
``run_generator``, tiling and the tools take them as they take a PyTorch network.

Only a file srkit-export wrote is run: its metadata (``srkit_arch``, ``scale``,
``size_multiple``, ``padding``, ``value_range``) says what the graph takes and gives, and a
graph without it (another exporter's) could take BGR, [0,255] or a fixed padding srkit cannot
know.  The graph's input is ``(B,C,H,W)`` RGB float in [0,1] and its output ``(B,C',H*s,W*s)`` in
[0,1], in float32 or, for a ``--fp16`` export, float16.
"""
from __future__ import annotations

import json

import numpy as np
import torch

from ..errors import DataError, UserError

MAX_ONNX_BYTES = 2 << 30  # protobuf's limit for one file (larger graphs keep their weights outside; srkit-export never)
METADATA = ('srkit_arch', 'scale', 'size_multiple', 'padding', 'value_range')


def is_onnx_path(path: str) -> bool:
    """Whether ``path`` names an ONNX file (by its extension, as onnxruntime's users name them)."""
    return isinstance(path, str) and path.lower().endswith('.onnx')


def _providers(device: torch.device) -> list[str]:
    import onnxruntime as ort
    if device.type == 'cpu':
        return ['CPUExecutionProvider']
    if device.type == 'cuda' and 'CUDAExecutionProvider' in ort.get_available_providers():
        return ['CUDAExecutionProvider', 'CPUExecutionProvider']
    raise UserError(f'onnxruntime here runs on the CPU only (providers: {", ".join(ort.get_available_providers())}); '
                    f'for {device} install onnxruntime-gpu, or run the .pth with PyTorch')


def _metadata(meta: dict, path: str) -> tuple[dict, int, int, bool]:
    """``(arch, scale, size_multiple, padded_in_graph)`` from srkit-export's metadata props."""
    missing = [k for k in METADATA if k not in meta]
    if missing:
        raise UserError(f'{path}: not a file of srkit-export (no {", ".join(missing)} in its metadata): srkit cannot '
                        'tell what the graph takes and gives; export the checkpoint with srkit-export')
    try:
        arch = json.loads(meta['srkit_arch'])
        scale, mult = int(meta['scale']), int(meta['size_multiple'])
    except (ValueError, RecursionError):
        raise UserError(f'{path}: its srkit-export metadata does not parse (srkit_arch, scale, '
                        'size_multiple)') from None
    ok = (isinstance(arch, dict) and isinstance(arch.get('type'), str) and 1 <= scale <= 16 and 1 <= mult <= 1024
          and meta['padding'] in ('in-graph', 'none') and meta['value_range'] == '0,1')
    if not ok:
        raise UserError(f'{path}: its srkit-export metadata is out of range (scale {meta["scale"]}, size_multiple '
                        f'{meta["size_multiple"]}, padding {meta["padding"]!r}, value_range {meta["value_range"]!r})')
    return arch, scale, mult, meta['padding'] == 'in-graph'


class OnnxNet(torch.nn.Module):
    """An srkit-export ONNX file in an onnxruntime session on ``device`` (the CPU, or CUDA with
    onnxruntime-gpu), ``threads`` intra-op threads (None: onnxruntime's default, the cores).

    It looks to srkit's tools like the network it was exported from: ``srkit_config`` (the
    architecture), ``scale``, ``size_multiple`` (the network's: srkit pads before the graph, as for
    the PyTorch network), ``value_range`` [0, 1], and a parameter of no values on ``device``, where
    ``run_generator`` sends tiles.
    ``padded``: whether the graph pads its input itself (a ``--dynamic`` export).
    ``forward``: ``(B,C,H,W)`` float in [0,1] -> ``(B,C',H*s,W*s)`` float32 on the input's device."""

    value_range = (0.0, 1.0)
    supports_half = supports_bfloat16 = False  # the graph runs in the precision it was exported in

    def __init__(self, path: str, device='cpu', threads: int | None = None):
        super().__init__()
        from .fileio import read_file
        try:
            data = read_file(path, MAX_ONNX_BYTES, ' (an ONNX file is at most 2 GiB)')
        except DataError as e:
            raise UserError(str(e).removesuffix('; skipped')) from None
        self._open(data, path, device, threads)
        del data
        arch, scale, mult, self.padded = _metadata(self.session.get_modelmeta().custom_metadata_map, path)
        # srkit pads to the multiple before the graph, as for the PyTorch network, so that tiles are
        # padded alike (the graph's own padding then has nothing to do; it serves other runtimes)
        self._describe(arch, scale, mult)

    @classmethod
    def from_network(cls, net: torch.nn.Module, cfg: dict, scale: int, channels: int, label: str, device='cpu',
                     threads: int | None = None) -> 'OnnxNet':
        """``net`` (a generator srkit loaded, in eval mode) exported in memory, with any batch,
        height and width, and run in onnxruntime (``--backend onnxruntime``:
        ``srkit.inference.pick_runtime``).  Its own value range and size multiple are kept
        (``run_generator`` maps and pads around it, as for ``net``); ``channels``: what it reads
        (``srkit.inference.image_channels``).  An architecture the exporter
        cannot take raises :class:`UserError` naming ``label``."""
        import io
        import warnings
        self = cls.__new__(cls)
        torch.nn.Module.__init__(self)
        mult = max(1, int(getattr(net, 'size_multiple', 1) or 1))
        side = max(32, int(getattr(net, 'min_size', 0) or 0))
        side += -side % mult
        x = torch.rand(1, channels, side, side, device=next(net.parameters()).device)
        buf = io.BytesIO()
        axes = {'input': {0: 'batch', 2: 'height', 3: 'width'}, 'output': {0: 'batch', 2: 'oh', 3: 'ow'}}
        try:
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter('ignore')  # the TorchScript exporter's deprecation and tracer notes
                torch.onnx.export(net.float().eval(), (x,), buf, opset_version=17, input_names=['input'],
                                  output_names=['output'], dynamic_axes=axes, dynamo=False)
        except Exception as e:  # an operator the exporter lacks
            detail = ' '.join(str(e).split())[:160]
            raise UserError(f'{label}: cannot run in onnxruntime: torch does not export it ({detail}); '
                            'run it with PyTorch') from None
        self._open(buf.getvalue(), label, device, threads)
        self.padded = False
        self.value_range = tuple(getattr(net, 'value_range', (0.0, 1.0)))
        self._describe(dict(cfg), scale, mult)
        return self

    def _open(self, data: bytes, label: str, device, threads: int | None) -> None:
        import onnxruntime as ort
        device = torch.device(device)
        providers = _providers(device)
        so = ort.SessionOptions()
        so.log_severity_level = 4  # a failure is reported in one line below, not also logged by onnxruntime
        if threads:
            so.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(data, so, providers=providers)
        except Exception as e:  # onnxruntime's errors derive from Exception only
            detail = ' '.join(str(e).split())[:160]
            raise UserError(f'{label}: onnxruntime cannot load it ({detail})') from None
        self.path = label
        self.anchor = torch.nn.Parameter(torch.empty(0, device=device), requires_grad=False)

    def _describe(self, arch: dict, scale: int, mult: int) -> None:
        self.srkit_config, self.scale, self.size_multiple = arch, scale, mult
        ins, outs = self.session.get_inputs(), self.session.get_outputs()
        if len(ins) != 1 or len(outs) != 1 or len(ins[0].shape) != 4 or ins[0].type not in (
                'tensor(float)', 'tensor(float16)'):
            raise UserError(f'{self.path}: srkit-export writes one float (B,C,H,W) input and one output; this graph '
                            f'has {len(ins)} input(s) {[i.type for i in ins]} and {len(outs)} output(s)')
        self.input_name = ins[0].name
        self.half = ins[0].type == 'tensor(float16)'
        shape = ins[0].shape
        self.fixed = tuple(shape[2:]) if all(isinstance(d, int) for d in shape[2:]) else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fixed is not None and tuple(x.shape[-2:]) != self.fixed:
            h, w = self.fixed
            raise UserError(f'{self.path}: a graph of fixed size {h}x{w} got {x.shape[-2]}x{x.shape[-1]}; export it '
                            'with dynamic sizes (srkit-export), or feed it images of that size')
        a = x.detach().to('cpu', torch.float16 if self.half else torch.float32).contiguous().numpy()
        y = self.session.run(None, {self.input_name: a})[0]
        return torch.from_numpy(np.asarray(y, np.float32)).to(x.device)
