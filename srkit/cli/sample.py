"""srkit-sample: draw images from a conditional GAN generator, one row per label.

  srkit-sample --model net_g.pth --labels 0,1,2 --per-label 8 --out grid.png [--seed S]

The same seed gives the same grid on any device (the noise is drawn on the CPU).
``--out-dir`` also writes each sample as ``<label>_<n>.png``.
"""
from __future__ import annotations

import argparse
import os

from ..errors import UserError, cli_entry


def _labels(text: str, n_classes: int) -> list[int]:
    try:
        labels = [int(t) for t in text.split(',') if t.strip() != '']
    except ValueError:
        raise UserError(f'--labels: expected comma-separated integers, got {text!r}') from None
    if not labels:
        raise UserError('--labels: no labels given')
    bad = [v for v in labels if not 0 <= v < n_classes]
    if bad:
        raise UserError(f'--labels: {bad[0]} is out of range; the generator knows labels 0..{n_classes - 1}')
    return labels


MAX_PER_LABEL = 1000


@cli_entry('srkit-sample')
def main(argv=None):
    ap = argparse.ArgumentParser(prog='srkit-sample', description=__doc__.split('\n')[0])
    ap.add_argument('--model', required=True, help='CGAN generator checkpoint (net_g_<iter>.pth)')
    ap.add_argument('--labels', default=None, help='comma-separated labels (default: every class)')
    ap.add_argument('--per-label', type=int, default=8, help='samples per label (the grid columns)')
    ap.add_argument('--out', required=True, help='grid image to write (.png)')
    ap.add_argument('--out-dir', default=None, help='also write every sample here')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--param-key', default=None, help='params_ema (default, falls back to params) or params')
    ap.add_argument('--device', default=None, help='cpu, cuda ... (default: cuda if available)')
    a = ap.parse_args(argv)
    if not 1 <= a.per_label <= MAX_PER_LABEL:  # the samples are drawn in one batch
        raise UserError(f'--per-label: must be from 1 to {MAX_PER_LABEL}, got {a.per_label}')
    from ..utils.fileio import check_replaceable
    check_replaceable(a.out, [a.model], '--out')
    import torch
    from ..utils.device import pick_device
    from ..inference import load_generator
    from torchvision.utils import make_grid
    from ..utils.imgio import tensor2img, write_image
    device = pick_device(a.device)
    net, cfg, _ = load_generator(a.model, a.param_key, device)
    if not (hasattr(net, 'n_classes') and hasattr(net, 'latent_dim')):
        raise UserError(f'{a.model}: a {cfg["type"]} is not a conditional generator; use srkit-infer')
    labels = _labels(a.labels, net.n_classes) if a.labels else list(range(net.n_classes))
    gen = torch.Generator().manual_seed(a.seed)
    z = torch.randn(len(labels) * a.per_label, net.latent_dim, generator=gen).to(device)
    y = torch.tensor(labels).repeat_interleave(a.per_label).to(device)
    with torch.no_grad():
        imgs = ((net(z, y) + 1) / 2).clamp(0, 1).cpu()
    write_image(a.out, tensor2img(make_grid(imgs, nrow=a.per_label, padding=2, pad_value=1.0)))
    if a.out_dir:
        for i, img in enumerate(imgs):
            write_image(os.path.join(a.out_dir, f'{int(y[i])}_{i % a.per_label}.png'),
                        tensor2img(img.expand(3, -1, -1).contiguous()))
    print(f'{a.out}: {len(labels)} label(s) x {a.per_label} samples (seed {a.seed})')
    return 0


if __name__ == '__main__':
    main()
