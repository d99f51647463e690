"""Do pix2pix, CycleGAN and CGAN learn?  Short CPU runs on built-in data, checked.

  python scripts/bench/translation.py --model cgan|cyclegan|pix2pix|all [--iters N] [--out DIR]

- cgan: scikit-learn's handwritten digits (8x8, 10 classes).  A logistic regression
  fitted on the real digits labels 100 generated samples per class; the share it
  labels with their conditioning label must be >= 80%.
- cyclegan: the demo's recipe (options/demo_cyclegan_colour.yml) on the demo's data:
  domain A is crops of bundled photos, domain B other crops recoloured by a fixed colour
  transform (a warm cast: per-channel gains), so no pair is ever seen.  On crops of two
  held-out photos, G_A(A) must beat leaving A unchanged on both PSNR and SSIM (RGB)
  against the true recoloured crop, as the demo's summary demands; PSNR must also beat the
  untrained generator's by >= 6 dB, the per-channel gains fitted from A to G_A(A) must be
  within 0.15 of the true ones, and the cycle loss must fall (mean of the last 20% of
  logged values < 0.8 x the first 20%).
- pix2pix: Canny edges -> photo on 64 px crops; on held-out pairs (the right 30% of
  each photo, never seen in training) the mean L1 to the
  target must beat the untrained network and the best constant image (the per-pixel
  median of the training targets) and the best single colour (the held-out targets'
  own median colour, an oracle); its PSNR must beat the held-out targets' mean colour
  (the demo's baseline, also an oracle).

Each prints its figures, PASS or FAIL, and training it/s; the exit code is 1 if a
check fails.  The slow tests run each model; docs/benchmarks.md has the figures.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import re
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

sys.path.insert(0, os.path.join(ROOT, 'scripts'))
from make_translation_data import GAINS, crops, write_colour_domains, write_digits, write_edge_pairs  # noqa: E402

ADAM = {'type': 'Adam', 'lr': 2e-4, 'betas': [0.5, 0.999]}


def _common(root, name, model_type, iters, print_freq):
    return {'name': name, 'model_type': model_type, 'num_gpu': 0, 'manual_seed': 0,
            'path': {'experiments_root': os.path.join(root, 'exp')},
            'logger': {'print_freq': print_freq, 'save_checkpoint_freq': iters, 'use_tb_logger': False},
            'train': {'total_iter': iters, 'optim_g': dict(ADAM), 'optim_d': dict(ADAM),
                      'scheduler': {'type': 'LinearDecayLR', 'decay_start': iters // 2, 'total_iter': iters}}}


def _train(opt: dict):
    import torch
    from srkit.trainer import Trainer
    from srkit.options import parse_options
    t0 = time.time()
    trainer = Trainer(parse_options(opt), quiet=True)
    assert trainer.fit() == 0
    return trainer, opt['train']['total_iter'] / (time.time() - t0), torch


def _logged(exp_dir: str, key: str) -> list[float]:
    log = open(glob.glob(os.path.join(exp_dir, 'train_*.log'))[0]).read()
    return [float(v) for v in re.findall(rf'\b{key} ([-+0-9.e]+)', log)]


# ---------------------------------------------------------------------------- CGAN
def digit_classifier():
    """A logistic regression fitted on scikit-learn's 1,797 real digits, as 8-bit values in
    [0,1] (what training saw); ``(classifier, its accuracy on the real digits)``."""
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    d = load_digits()
    x = np.rint(d.images.reshape(len(d.images), -1) / 16 * 255) / 255
    clf = LogisticRegression(max_iter=2000).fit(x, d.target)
    return clf, float(clf.score(x, d.target))


def check_cgan(root: str, iters: int) -> dict:
    write_digits(os.path.join(root, 'digits'))
    o = _common(root, 'cgan', 'CGANModel', iters, max(iters // 20, 1))
    o['datasets'] = {'train': {'type': 'LabelledImageDataset', 'dataroot': os.path.join(root, 'digits'),
                               'batch_size_per_gpu': 64, 'num_worker_per_gpu': 1}}
    o['network_g'] = {'type': 'CGANGenerator', 'latent_dim': 100, 'img_size': 8}
    o['network_d'] = {'type': 'CGANDiscriminator', 'img_size': 8}
    o['train']['gan_opt'] = {'type': 'GANLoss', 'gan_type': 'lsgan'}
    trainer, ips, torch = _train(o)
    clf, real_acc = digit_classifier()
    gen = torch.Generator().manual_seed(1)
    labels = torch.arange(10).repeat_interleave(100)
    z = torch.randn(len(labels), 100, generator=gen)
    samples = trainer.model.sample(z, labels).reshape(len(labels), -1).numpy()
    acc = float((clf.predict(np.rint(samples * 255) / 255) == labels.numpy()).mean())
    return {'model': 'cgan', 'iters': iters, 'it_per_s': round(ips, 2), 'real_accuracy': real_acc,
            'conditional_accuracy': acc, 'pass': acc >= 0.8}


# ------------------------------------------------------------------------ CycleGAN
def demo_recipe(name: str) -> dict:
    """One of the demo's recipes in ``options/`` as a dict (the checks train what the demo trains)."""
    import yaml
    with open(os.path.join(ROOT, 'options', name)) as f:
        return yaml.safe_load(f)


def check_cyclegan(root: str, iters: int | None) -> dict:
    """The demo's CycleGAN recipe (``options/demo_cyclegan_colour.yml``) on the demo's data."""
    write_colour_domains(root)
    o = demo_recipe('demo_cyclegan_colour.yml')
    iters = iters or o['train']['total_iter']
    o.update(name='cyclegan', num_gpu=0, path={'experiments_root': os.path.join(root, 'exp')},
             logger={'print_freq': max(iters // 25, 1), 'save_checkpoint_freq': iters, 'use_tb_logger': False})
    o['datasets']['train'].update(dataroot_a=os.path.join(root, 'trainA'), dataroot_b=os.path.join(root, 'trainB'))
    o['datasets']['val'].update(dataroot_a=os.path.join(root, 'valA'), dataroot_b=os.path.join(root, 'valB'))
    o['train']['total_iter'] = o['train']['scheduler']['total_iter'] = iters
    o['train']['scheduler']['decay_start'] = min(o['train']['scheduler']['decay_start'], iters)
    o['val']['val_freq'] = iters
    untrained = _val_scores(dict(o, name='cyclegan_untrained'))['psnr']
    identity = _identity_scores(root)
    trainer, ips, _ = _train(o)
    scores = trainer.validate(iters)['val']
    gains = _fitted_gains(trainer.model, root)
    cyc = _logged(trainer.exp_dir, 'l_cycle_a')
    k = max(len(cyc) // 5, 1)
    first, last = float(np.mean(cyc[:k])), float(np.mean(cyc[-k:]))
    gains_ok = bool(np.abs(np.array(gains) - GAINS).max() <= 0.15)
    beats_identity = scores['psnr'] > identity['psnr'] and scores['ssim'] > identity['ssim']
    return {'model': 'cyclegan', 'iters': iters, 'it_per_s': round(ips, 2), 'psnr_trained': round(scores['psnr'], 2),
            'ssim_trained': round(scores['ssim'], 4), 'psnr_untrained': round(untrained, 2),
            'psnr_identity': round(identity['psnr'], 2), 'ssim_identity': round(identity['ssim'], 4),
            'fitted_gains': [round(g, 3) for g in gains], 'true_gains': GAINS.tolist(),
            'cycle_loss_first': round(first, 4), 'cycle_loss_last': round(last, 4),
            'pass': beats_identity and scores['psnr'] >= untrained + 6 and gains_ok and last < 0.8 * first}


def _fitted_gains(model, root: str) -> list[float]:
    """Per-channel least-squares gain of G_A(A) on A over the held-out crops (the true map is a gain)."""
    import torch
    from srkit.utils.imgio import img2tensor, read_image
    a = torch.stack([img2tensor(read_image(f)) for f in sorted(glob.glob(os.path.join(root, 'valA', '*.png')))])
    with torch.no_grad():
        y = model.test(a).clamp(0, 1)
    return [float((a[:, c] * y[:, c]).sum() / (a[:, c] ** 2).sum()) for c in range(3)]


def _val_scores(opt: dict) -> dict:
    """The validation metrics of the freshly initialised generator (no training)."""
    from srkit.trainer import Trainer
    from srkit.options import parse_options
    return Trainer(parse_options(opt), quiet=True).validate(0)['val']


def _identity_scores(root: str) -> dict:
    """PSNR and SSIM (RGB, as the recipe validates) of leaving A unchanged, against the true B."""
    import torch
    from srkit import metrics as M
    from srkit.utils.imgio import img2tensor, read_image
    names = sorted(os.listdir(os.path.join(root, 'valA')))
    a, b = (torch.stack([img2tensor(read_image(os.path.join(root, d, f))) for f in names]) for d in ('valA', 'valB'))
    return {'psnr': float(M.psnr(a, b, 0, False).mean()), 'ssim': float(M.ssim(a, b, 0, False).mean())}


# ------------------------------------------------------------------------- pix2pix
def check_pix2pix(root: str, iters: int) -> dict:
    import torch
    from make_translation_data import edge_pair_photos
    from srkit.utils.imgio import read_image
    write_edge_pairs(root)
    targets = [np.rint(c * 255) / 255 for _, part, _ in edge_pair_photos() for c in crops(part, 64, 32)]
    o = _common(root, 'pix2pix', 'Pix2PixModel', iters, max(iters // 25, 1))
    o['datasets'] = {
        'train': {'type': 'AlignedImageDataset', 'dataroot_ab': os.path.join(root, 'train'),
                  'batch_size_per_gpu': 4, 'num_worker_per_gpu': 1},
        'val': {'type': 'AlignedImageDataset', 'dataroot_ab': os.path.join(root, 'val')}}
    o['network_g'] = {'type': 'UnetGenerator', 'num_downs': 6, 'ngf': 16}
    o['network_d'] = {'type': 'NLayerDiscriminator', 'input_nc': 6, 'ndf': 16, 'n_layers': 2}
    o['train']['gan_opt'] = {'type': 'GANLoss', 'gan_type': 'vanilla'}
    val = [read_image(p) for p in sorted(glob.glob(os.path.join(root, 'val', '*.png')))]
    val_a = torch.stack([torch.from_numpy(v[:, :64].transpose(2, 0, 1).copy()) for v in val])
    val_b = np.stack([v[:, 64:] for v in val])

    def output(model):
        with torch.no_grad():
            return np.rint(model.test(val_a).clamp(0, 1).permute(0, 2, 3, 1).numpy() * 255) / 255

    def l1_of(model):
        return float(np.abs(output(model) - val_b).mean())
    from srkit.trainer import Trainer
    from srkit.options import parse_options
    untrained = l1_of(Trainer(parse_options(dict(o, name='pix2pix_untrained')), quiet=True).model)
    const_img = np.median(np.stack(targets), 0)
    const_colour = np.median(val_b.reshape(-1, 3), 0)
    l1_const_img = float(np.abs(const_img[None] - val_b).mean())
    l1_const_colour = float(np.abs(const_colour - val_b).mean())
    psnr_mean_colour = mean_colour_psnr(val_b)
    trainer, ips, _ = _train(o)
    l1, psnr = l1_of(trainer.model), mean_psnr(output(trainer.model), val_b)
    return {'model': 'pix2pix', 'iters': iters, 'it_per_s': round(ips, 2), 'l1_trained': round(l1, 4),
            'l1_untrained': round(untrained, 4), 'l1_constant_image': round(l1_const_img, 4),
            'l1_best_colour_oracle': round(l1_const_colour, 4), 'psnr_trained': round(psnr, 2),
            'psnr_mean_colour_oracle': round(psnr_mean_colour, 2),
            'pass': l1 < min(untrained, l1_const_img, l1_const_colour) and psnr > psnr_mean_colour}


def mean_psnr(x: np.ndarray, y: np.ndarray) -> float:
    """Mean over images of the PSNR (RGB, [0,1]) of ``x`` against ``y``, both ``(N,H,W,3)``."""
    return float(np.mean([10 * np.log10(1 / np.mean((a - b) ** 2)) for a, b in zip(x, y)]))


def mean_colour_psnr(targets: np.ndarray) -> float:
    """pix2pix's baseline in the demo and this check: the targets' own mean colour everywhere
    (an oracle, taken from the answers), its mean PSNR against ``targets`` ``(N,H,W,3)``."""
    return mean_psnr(np.broadcast_to(targets.reshape(-1, 3).mean(0), targets.shape), targets)


CHECKS = {'cgan': (check_cgan, 800), 'cyclegan': (check_cyclegan, None), 'pix2pix': (check_pix2pix, 1500)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--model', choices=[*CHECKS, 'all'], default='all')
    ap.add_argument('--iters', type=int, default=None,
                    help="training iterations (default: per model; CycleGAN: the demo recipe's)")
    ap.add_argument('--out', default=None, help='keep the data and experiments here')
    a = ap.parse_args(argv)
    import torch
    # every core, unless OMP_NUM_THREADS says otherwise (the test suite's workers: one each)
    torch.set_num_threads(int(os.environ.get('OMP_NUM_THREADS') or os.cpu_count() or 1))
    ok = True
    for name in (CHECKS if a.model == 'all' else [a.model]):
        fn, iters = CHECKS[name]
        with tempfile.TemporaryDirectory() as tmp:
            root = os.path.join(a.out, name) if a.out else tmp
            res = fn(root, a.iters or iters)
        print(json.dumps(res))
        print(f'{name}: {"PASS" if res["pass"] else "FAIL"}')
        ok &= res['pass']
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
