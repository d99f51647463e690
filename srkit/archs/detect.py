"""Rebuild a network from a checkpoint: srkit metadata first, else key patterns."""
from __future__ import annotations

import math
import re

from ..errors import UserError


def _max_index(sd, prefix):
    idx = [int(m.group(1)) for k in sd if (m := re.match(re.escape(prefix) + r'(\d+)\.', k))]
    return max(idx) + 1 if idx else 0


def detect_arch(sd: dict, path: str = 'checkpoint') -> dict:
    """Guess ``{type, **kwargs}`` from a state dict's key names and shapes."""
    if 'conv_first.weight' in sd and 'body.0.conv1.weight' in sd and 'conv_hr.weight' in sd and 'upconv1.weight' in sd:
        nf, cin = sd['conv_first.weight'].shape[:2]
        if 'upconv2.weight' in sd:
            up = 4
        else:
            up = int(round(math.sqrt(sd['upconv1.weight'].shape[0] / nf)))
        return {'type': 'MSRResNet', 'num_in_ch': int(cin), 'num_out_ch': int(sd['conv_last.weight'].shape[0]),
                'num_feat': int(nf), 'num_block': _max_index(sd, 'body.'), 'upscale': up}
    if 'conv_first.weight' in sd and 'body.0.rdb1.conv1.weight' in sd and 'conv_up1.weight' in sd:
        nf, cin = sd['conv_first.weight'].shape[:2]
        cout = int(sd['conv_last.weight'].shape[0])
        if 'conv_up3.weight' in sd:
            scale = 8
        else:
            # pixel-unshuffle multiplies the input channels by 4 (x2) or 16 (x1)
            scale = {1: 4, 4: 2, 16: 1}.get(int(cin) // cout, 4)
        unshuffle = {1: 4, 2: 2}.get(scale, 1)
        return {'type': 'RRDBNet', 'num_in_ch': int(cin) // unshuffle ** 2, 'num_out_ch': cout, 'scale': scale,
                'num_feat': int(nf), 'num_block': _max_index(sd, 'body.'),
                'num_grow_ch': int(sd['body.0.rdb1.conv1.weight'].shape[0])}
    if 'prelu_first.weight' in sd and 'conv_body.weight' in sd:
        nf, cin = sd['conv_first.weight'].shape[:2]
        return {'type': 'SRResNet', 'num_in_ch': int(cin), 'num_out_ch': int(sd['conv_last.weight'].shape[0]),
                'num_feat': int(nf), 'num_block': _max_index(sd, 'body.'),
                'upscale': 2 ** _max_index(sd, 'upsample.')}
    if 'block_input.0.weight' in sd and 'block_output.weight' in sd:  # DSGAN's generator (the authors' keys)
        nf, cin = sd['block_input.0.weight'].shape[:2]
        return {'type': 'DSGANGenerator', 'num_in_ch': int(cin), 'num_out_ch': int(sd['block_output.weight'].shape[0]),
                'num_feat': int(nf), 'num_block': _max_index(sd, 'res_blocks.')}
    if 'model.model.0.weight' in sd and 'model.model.1.model.1.weight' in sd:  # pix2pix U-Net (reference keys)
        depth, prefix = 1, 'model.model.1.'
        while f'{prefix}model.3.model.1.weight' in sd:
            depth, prefix = depth + 1, prefix + 'model.3.'
        ngf, cin = sd['model.model.0.weight'].shape[:2]
        return {'type': 'UnetGenerator', 'input_nc': int(cin), 'output_nc': int(sd['model.model.3.weight'].shape[1]),
                'num_downs': depth + 1, 'ngf': int(ngf), 'norm': _translation_norm(sd, 'model.model.1.model.'),
                'use_dropout': True}
    if 'model.1.weight' in sd and any('.conv_block.' in k for k in sd):  # CycleGAN ResNet generator
        blocks = sorted({int(m.group(1)) for k in sd if (m := re.match(r'model\.(\d+)\.conv_block\.', k))})
        first = f'model.{blocks[0]}.conv_block.' if blocks else ''
        convs = sorted(w for k in sd if k.startswith(first) and (w := k[len(first):]).endswith('.weight')
                       and sd[k].ndim == 4)
        last = max(int(k.split('.')[1]) for k in sd if k.startswith('model.') and sd[k].ndim == 4)
        ngf, cin = sd['model.1.weight'].shape[:2]
        return {'type': 'ResnetGenerator', 'input_nc': int(cin), 'output_nc': int(sd[f'model.{last}.weight'].shape[0]),
                'ngf': int(ngf), 'n_blocks': len(blocks), 'norm': _translation_norm(sd, 'model.'),
                'use_dropout': bool(convs) and convs[-1].startswith('6.')}
    if 'label_emb.weight' in sd and 'model.0.weight' in sd:  # the MLP CGAN generator (PyTorch-GAN's keys)
        n_classes = int(sd['label_emb.weight'].shape[0])
        out = int(sd[f'model.{max(int(k.split(".")[1]) for k in sd if k.startswith("model."))}.weight'].shape[0])
        ch = 1 if math.isqrt(out) ** 2 == out else 3
        return {'type': 'CGANGenerator', 'latent_dim': int(sd['model.0.weight'].shape[1]) - n_classes,
                'n_classes': n_classes, 'img_channels': ch, 'img_size': math.isqrt(out // ch)}
    raise UserError(f'{path}: cannot tell the architecture from its keys (no srkit metadata); '
                    f'first keys: {", ".join(list(sd)[:4])}')


def _translation_norm(sd: dict, prefix: str) -> str:
    """instance (the reference gives convs a bias only then; old files may still carry IN
    running stats), else batch (running stats) or none."""
    if f'{prefix}1.bias' in sd:
        return 'instance'
    return 'batch' if any(k.startswith(prefix) and k.endswith('running_mean') for k in sd) else 'none'


def load_generator(path: str, param_key: str | None = None, device='cpu', channels_last: bool = False):
    """Load a generator checkpoint for inference: ``(net in eval mode, cfg, scale)``.
    ``channels_last``: convolution weights in NHWC order, which oneDNN (CPU) and cuDNN
    (tensor cores) run faster; results differ from NCHW only by float rounding."""
    from . import build_network
    from ..utils.checkpoint import check_compatible, extract_state_dict, load_checkpoint
    ckpt = load_checkpoint(path)
    sd, _key = extract_state_dict(ckpt, param_key or 'params_ema', path)
    meta = ckpt.get('srkit') if isinstance(ckpt, dict) else None
    cfg = dict(meta['arch']) if meta and 'arch' in meta else detect_arch(sd, path)
    try:
        net = build_network(cfg, f'{path}: arch')
    except (TypeError, ValueError) as e:  # a bad metadata entry
        raise UserError(f'{path}: cannot build {cfg.get("type")} from its metadata ({e})') from None
    if hasattr(net, 'adapt_state_dict'):
        sd = net.adapt_state_dict(sd)
    check_compatible(net, sd, path, strict=True)
    net.load_state_dict(sd)
    scale = int(meta['scale']) if meta and 'scale' in meta else int(cfg.get('upscale', cfg.get('scale', 1)))
    net = net.to(device).eval()
    if channels_last:
        import torch
        net = net.to(memory_format=torch.channels_last)
    return net, cfg, scale


def run_generator(net, x, tile: int = 0, overlap: int = 32, dtype=None, progress=None):
    """``(B,C,H,W)`` in [0,1] through an image-to-image generator: the network's own value
    range (``value_range``, [-1,1] for the translation nets) on the way in and out, and
    padding to its size multiple (``size_multiple``, or the input-size multiple a
    pixel-unshuffle RRDBNet needs), cropped off afterwards.

    With ``tile > 0`` the image stays where it is (the CPU) and tiles of ``tile`` pixels,
    overlapping by ``overlap`` and blended (:func:`srkit.utils.tiling.tiled_forward`), go to
    the network's device one at a time.  ``dtype``: the precision the network runs in.
    Returns float32 on ``x``'s device.
    """
    import torch.nn.functional as F
    from ..utils.tiling import tiled_forward
    lo, hi = getattr(net, 'value_range', (0.0, 1.0))
    mult = size_multiple(net)
    device = next(net.parameters()).device
    h, w = x.shape[-2:]
    ph, pw = -h % mult, -w % mult
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


def size_multiple(net) -> int:
    """The input-size multiple the network needs: its ``size_multiple`` (U-Net, ResNet), its
    pixel-unshuffle factor (RRDBNet x1 / x2), else 1."""
    return int(getattr(net, 'size_multiple', None) or getattr(net, 'unshuffle', 1))
