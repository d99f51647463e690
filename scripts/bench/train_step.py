"""SRResNet training iterations/s: srkit's SRModel vs BasicSR's SRModel, same work, one run.

Both train MSRResNet (64 features, 16 blocks, x4) with L1 + Adam + MultiStepLR
+ EMA 0.999 on the same fixed batch, on the same device; steps alternate in
rounds so drift in machine load hits both equally.

  python scripts/bench/train_step.py [--device cpu|cuda] [--batch 4] [--gt 96] [--steps 10] [--rounds 3]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', '..'))


def basicsr_model(device, lr=2e-4):
    from srkit.compat import import_basicsr
    SRModel = import_basicsr('basicsr.models.sr_model').SRModel
    opt = {
        'name': 'bench', 'model_type': 'SRModel', 'scale': 4, 'num_gpu': 0 if device == 'cpu' else 1,
        'is_train': True, 'dist': False, 'rank': 0, 'world_size': 1,
        'network_g': {'type': 'MSRResNet', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 64, 'num_block': 16, 'upscale': 4},
        'path': {'pretrain_network_g': None, 'param_key_g': 'params', 'strict_load_g': True, 'resume_state': None},
        'train': {'ema_decay': 0.999, 'optim_g': {'type': 'Adam', 'lr': lr, 'weight_decay': 0, 'betas': [0.9, 0.99]},
                  'scheduler': {'type': 'MultiStepLR', 'milestones': [250000], 'gamma': 0.5},
                  'total_iter': 1000, 'warmup_iter': -1,
                  'pixel_opt': {'type': 'L1Loss', 'loss_weight': 1.0, 'reduction': 'mean'}},
        'logger': {'print_freq': 100, 'save_checkpoint_freq': 1000, 'use_tb_logger': False},
        'val': None,
    }
    import logging
    logging.getLogger('basicsr').setLevel(logging.WARNING)
    m = SRModel(opt)

    def step(it, batch):
        m.feed_data(batch)
        m.update_learning_rate(it, warmup_iter=-1)
        m.optimize_parameters(it)
    return step


def srkit_model(device, channels_last=False, amp='none', lr=2e-4):
    from srkit.engine.dist import DistContext
    from srkit.models import build_model
    from srkit.models.base import EngineContext
    from srkit.options import parse_options
    opt = parse_options({
        'name': 'bench', 'model_type': 'SRModel', 'scale': 4,
        'network_g': {'type': 'MSRResNet', 'num_feat': 64, 'num_block': 16, 'upscale': 4},
        'train': {'ema_decay': 0.999, 'optim_g': {'type': 'Adam', 'lr': lr, 'betas': [0.9, 0.99]},
                  'scheduler': {'type': 'MultiStepLR', 'milestones': [250000], 'gamma': 0.5},
                  'total_iter': 1000, 'pixel_opt': {'type': 'L1Loss'},
                  'channels_last': channels_last, 'amp': amp},
    })
    m = build_model(opt, EngineContext(torch.device(device), DistContext(), lambda *_: None))
    m.set_train(True)

    def step(it, batch):
        b = m.prepare_batch(batch)
        m.update_learning_rate(it)
        m.train_step(b)
        m.after_step(it)
    return step


def timed(step, batch, start, n, device):
    if device != 'cpu':
        torch.cuda.synchronize()
    t = time.perf_counter()
    for i in range(n):
        step(start + i, batch)
    if device != 'cpu':
        torch.cuda.synchronize()
    return n / (time.perf_counter() - t)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--device', default='cpu')
    ap.add_argument('--batch', type=int, default=4)
    ap.add_argument('--gt', type=int, default=96)
    ap.add_argument('--steps', type=int, default=10)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--variants', default='default,channels_last',
                    help='srkit variants: default, channels_last, bf16 (comma-separated)')
    a = ap.parse_args()
    torch.manual_seed(0)
    gt = torch.rand(a.batch, 3, a.gt, a.gt)
    lq = torch.nn.functional.avg_pool2d(gt, 4)
    batch = {'lq': lq.to(a.device), 'gt': gt.to(a.device)}
    runners = {'basicsr': basicsr_model(a.device)}
    for v in a.variants.split(','):
        runners[f'srkit[{v}]'] = srkit_model(a.device, channels_last=v == 'channels_last',
                                             amp='bf16' if v == 'bf16' else 'none')
    rates = {k: [] for k in runners}
    it = {k: 1 for k in runners}
    for k, r in runners.items():  # warm-up
        timed(r, batch, it[k], 2, a.device)
        it[k] += 2
    for _ in range(a.rounds):
        for k, r in runners.items():
            rates[k].append(timed(r, batch, it[k], a.steps, a.device))
            it[k] += a.steps
    base = statistics.median(rates['basicsr'])
    print(f'device {a.device}, threads {torch.get_num_threads()}, MSRResNet x4 64f/16b, '
          f'batch {a.batch}, gt {a.gt}, {a.rounds}x{a.steps} steps (median)')
    for k, v in rates.items():
        med = statistics.median(v)
        print(f'{k:24s} {med:7.3f} it/s   ratio vs basicsr {med / base:5.2f}x')


if __name__ == '__main__':
    main()
