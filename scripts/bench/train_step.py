"""Training iterations/s and per-step memory: srkit vs BasicSR on the same work, in one run.

  python scripts/bench/train_step.py --model srresnet [--device cpu|cuda] [--batch 4] [--gt 96]
  python scripts/bench/train_step.py --model esrgan   [--device cpu|cuda] [--batch 2] [--gt 128] [--rrdb-blocks 23]

srresnet: MSRResNet x4 (64 features, 16 blocks), L1, Adam, MultiStepLR, EMA 0.999
(srkit's SRModel vs basicsr's SRModel).
esrgan: RRDBNet x4 (64 features, --rrdb-blocks blocks, growth 32), VGG-style D,
L1 1e-2 + VGG19 conv5_4 perceptual 1.0 + RaGAN 5e-3, EMA 0.999 (srkit's ESRGANModel
vs basicsr's ESRGANModel; both load the same VGG19 file).

Each runner trains in its own forked process on the same fixed batch; the
order alternates over rounds (A B B A ...) so machine drift hits both, and
the median it/s is reported with the peak memory of the training step
(CPU: resident set growth of the process; CUDA: max allocated).
"""
from __future__ import annotations

import argparse
import copy
import logging
import multiprocessing as mp
import os
import resource
import statistics
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', '..'))


def _train_opt(model: str, lr: float) -> dict:
    t = {'ema_decay': 0.999, 'optim_g': {'type': 'Adam', 'lr': lr, 'weight_decay': 0, 'betas': [0.9, 0.99]},
         'scheduler': {'type': 'MultiStepLR', 'milestones': [250000], 'gamma': 0.5}, 'total_iter': 100000}
    if model == 'srresnet':
        t['pixel_opt'] = {'type': 'L1Loss', 'loss_weight': 1.0, 'reduction': 'mean'}
    else:
        t.update({
            'optim_d': {'type': 'Adam', 'lr': lr, 'weight_decay': 0, 'betas': [0.9, 0.99]},
            'pixel_opt': {'type': 'L1Loss', 'loss_weight': 1e-2, 'reduction': 'mean'},
            'perceptual_opt': {'type': 'PerceptualLoss', 'layer_weights': {'conv5_4': 1.0}, 'vgg_type': 'vgg19',
                               'use_input_norm': True, 'range_norm': False, 'perceptual_weight': 1.0,
                               'style_weight': 0, 'criterion': 'l1'},
            'gan_opt': {'type': 'GANLoss', 'gan_type': 'vanilla', 'real_label_val': 1.0, 'fake_label_val': 0.0,
                        'loss_weight': 5e-3},
            'net_d_iters': 1, 'net_d_init_iters': 0})
    return t


def _nets(a) -> dict:
    if a.model == 'srresnet':
        return {'network_g': {'type': 'MSRResNet', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 64,
                              'num_block': 16, 'upscale': 4}}
    return {'network_g': {'type': 'RRDBNet', 'num_in_ch': 3, 'num_out_ch': 3, 'scale': 4, 'num_feat': 64,
                          'num_block': a.rrdb_blocks, 'num_grow_ch': 32},
            'network_d': {'type': 'VGGStyleDiscriminator', 'num_in_ch': 3, 'num_feat': 64, 'input_size': a.gt}}


def basicsr_runner(a, vgg_path):
    from srkit.compat import import_basicsr
    import torchvision
    vgg_arch = import_basicsr('basicsr.archs.vgg_arch')
    # basicsr 1.4.2 calls torchvision's removed `pretrained=` argument and reads a
    # fixed relative path; point both at the shared VGG19 file
    vgg_arch.vgg.vgg19 = lambda pretrained=False, **kw: torchvision.models.vgg19(weights=None)
    vgg_arch.VGG_PRETRAIN_PATH = vgg_path
    cls = 'SRModel' if a.model == 'srresnet' else 'ESRGANModel'
    mod = import_basicsr('basicsr.models.sr_model' if a.model == 'srresnet' else 'basicsr.models.esrgan_model')
    opt = {'name': 'bench', 'model_type': cls, 'scale': 4, 'num_gpu': 0 if a.device == 'cpu' else 1,
           'is_train': True, 'dist': False, 'rank': 0, 'world_size': 1, **copy.deepcopy(_nets(a)),
           'path': {'pretrain_network_g': None, 'param_key_g': 'params', 'strict_load_g': True,
                    'pretrain_network_d': None, 'resume_state': None},
           'train': {**_train_opt(a.model, 1e-4), 'warmup_iter': -1},
           'logger': {'print_freq': 100, 'use_tb_logger': False}, 'val': None}
    logging.getLogger('basicsr').setLevel(logging.WARNING)
    m = getattr(mod, cls)(opt)

    def step(it, batch):
        m.feed_data(batch)
        m.update_learning_rate(it, warmup_iter=-1)
        m.optimize_parameters(it)
    return step


def srkit_runner(a, vgg_path, variant):
    from srkit.engine.dist import DistContext
    from srkit.models import build_model
    from srkit.models.base import EngineContext
    from srkit.options import parse_options
    nets = copy.deepcopy(_nets(a))
    train = _train_opt(a.model, 1e-4)
    if 'perceptual_opt' in train:
        train['perceptual_opt']['vgg_weights'] = vgg_path
    train['channels_last'] = variant != 'contiguous'
    train['amp'] = 'bf16' if variant == 'bf16' else 'none'
    opt = parse_options({'name': 'bench', 'model_type': 'SRModel' if a.model == 'srresnet' else 'ESRGANModel',
                         'scale': 4, **nets, 'train': train, 'device': a.device})
    m = build_model(opt, EngineContext(torch.device(a.device), DistContext(), lambda *_: None))
    m.set_train(True)

    def step(it, batch):
        b = m.prepare_batch(batch)
        m.update_learning_rate(it)
        m.current_iter = it
        m.train_step(b)
        m.after_step(it)
    return step


def _rss_mb() -> float:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2 ** 20


def _child(name, a, vgg_path, q):
    torch.manual_seed(0)
    gt = torch.rand(a.batch, 3, a.gt, a.gt)
    batch = {'gt': gt.to(a.device), 'lq': torch.nn.functional.avg_pool2d(gt, 4).to(a.device)}
    base = _rss_mb()
    step = basicsr_runner(a, vgg_path) if name == 'basicsr' else srkit_runner(a, vgg_path, name.split(':')[1])
    sync = torch.cuda.synchronize if a.device != 'cpu' else (lambda: None)
    for i in range(2):  # warm-up
        step(i + 1, batch)
    sync()
    if a.device != 'cpu':
        torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    for i in range(a.steps):
        step(i + 3, batch)
    sync()
    rate = a.steps / (time.perf_counter() - t)
    if a.device != 'cpu':
        mem = torch.cuda.max_memory_allocated() / 2 ** 20
    else:
        mem = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base
    q.put((rate, mem))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--model', choices=['srresnet', 'esrgan'], default='srresnet')
    ap.add_argument('--device', default='cpu')
    ap.add_argument('--batch', type=int, default=None)
    ap.add_argument('--gt', type=int, default=None)
    ap.add_argument('--rrdb-blocks', type=int, default=23)
    ap.add_argument('--steps', type=int, default=10)
    ap.add_argument('--rounds', type=int, default=2)
    ap.add_argument('--variants', default='channels_last,contiguous',
                    help='srkit variants: channels_last (default layout), contiguous, bf16')
    a = ap.parse_args()
    a.batch = a.batch or (4 if a.model == 'srresnet' else 2)
    a.gt = a.gt or (96 if a.model == 'srresnet' else 128)
    from torchvision.models import vgg19
    with tempfile.TemporaryDirectory() as tmp:
        vgg_path = os.path.join(tmp, 'vgg19.pth')
        torch.manual_seed(0)
        torch.save(vgg19(weights=None).state_dict(), vgg_path)  # speed does not depend on the values
        names = ['basicsr'] + [f'srkit:{v}' for v in a.variants.split(',')]
        ctx = mp.get_context('fork' if a.device == 'cpu' else 'spawn')
        res = {n: [] for n in names}
        for r in range(a.rounds):
            for n in (names if r % 2 == 0 else names[::-1]):
                q = ctx.Queue()
                p = ctx.Process(target=_child, args=(n, a, vgg_path, q))
                p.start()
                res[n].append(q.get())
                p.join()
    base = statistics.median(x[0] for x in res['basicsr'])
    unit = 'MiB max allocated' if a.device != 'cpu' else 'MiB RSS growth'
    print(f'{a.model} | device {a.device} | threads {torch.get_num_threads()} | batch {a.batch} gt {a.gt}'
          + (f' | RRDB blocks {a.rrdb_blocks}' if a.model == 'esrgan' else '')
          + f' | {a.rounds} rounds x {a.steps} steps, median')
    for n, v in res.items():
        rate = statistics.median(x[0] for x in v)
        mem = max(x[1] for x in v)
        print(f'{n:22s} {rate:8.3f} it/s  {rate / base:5.2f}x vs basicsr   peak {mem:8.1f} {unit}')


if __name__ == '__main__':
    main()
