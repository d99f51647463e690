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
    raise UserError(f'{path}: cannot tell the architecture from its keys (no srkit metadata); '
                    f'first keys: {", ".join(list(sd)[:4])}')


def load_generator(path: str, param_key: str | None = None, device='cpu'):
    """Load a generator checkpoint for inference: ``(net in eval mode, cfg, scale)``."""
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
    check_compatible(net, sd, path, strict=True)
    net.load_state_dict(sd)
    scale = int(meta['scale']) if meta and 'scale' in meta else int(cfg.get('upscale', cfg.get('scale', 1)))
    return net.to(device).eval(), cfg, scale
