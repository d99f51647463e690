"""Training iterations/s and per-step memory: srkit vs BasicSR / traiNNer-redux on the same work, in one run.

  python scripts/bench/train_step.py --model srresnet [--device cpu|cuda] [--batch 4] [--gt 96]
  python scripts/bench/train_step.py --model esrgan   [--device cpu|cuda] [--batch 2] [--gt 128] [--rrdb-blocks 23]
  python scripts/bench/train_step.py --model span|realplksr [--batch 4] [--gt 128] [--trainner-redux CHECKOUT]

srresnet: MSRResNet x4 (64 features, 16 blocks), L1, Adam, MultiStepLR, EMA 0.999
(srkit's SRModel vs basicsr's SRModel).
esrgan: RRDBNet x4 (64 features, --rrdb-blocks blocks, growth 32), VGG-style D,
L1 1e-2 + VGG19 conv5_4 perceptual 1.0 + RaGAN 5e-3, EMA 0.999 (srkit's ESRGANModel
vs basicsr's ESRGANModel; both load the same VGG19 file).
span / realplksr: traiNNer-redux's presets ``span_s`` (SPAN, 48 features, 6 blocks) and
``realplksr_tiny`` (RealPLKSR, dim 64, 12 blocks, kernel 13, no EA, layer norm), x4; L1,
AdamW (betas 0.9/0.99, no weight decay, lr 5e-4 resp. 2e-4) and MultiStepLR as its
``SPAN_S_fidelity`` / ``RealPLKSR_Tiny_fidelity`` templates, EMA 0.999; three runners:

* ``srkit:<variant>``: srkit's SRModel with ``network_g: {type: span_s}`` (resp.
  ``realplksr_tiny``); the variant ``default`` (the default for these models) leaves
  ``train.channels_last`` unset, so srkit picks the layout per architecture
  (channels-last for SPAN, NCHW for RealPLKSR, whose large kernels' gradients are 9-12x
  slower in channels-last on CPU); ``channels_last``, ``contiguous`` and ``bf16`` force it.
* ``trainner``: traiNNer-redux's own ``traiNNer.models.sr_model.SRModel``, with the network
  from its registry (``span_s`` / ``realplksr_tiny``), run by another interpreter (a venv
  made by scripts/bench/setup_trainner_redux.sh, on srkit's torch; ``--trainner-venv``).
  Its train.py refuses to run without CUDA (``train_pipeline`` raises "CUDA is not
  available"), so, as for basicsr above, the runner builds the options and the model
  itself: the options are its template's YAML (options/_templates/train/...) decoded into
  its ``ReduxOptions``, with these changes: ``num_gpu`` 0 on CPU (1 on CUDA); the loss L1
  (the template's is Charbonnier) and the optimizer, schedule and EMA above; ``ema_power``
  back to its TrainOptions default (10, a constant 0.999: the template's 0.75 ramps the
  decay up, the same work per step); ``use_amp`` false (the template's true is fp16
  autocast, "NVIDIA only": srkit's default variants are fp32 too).  traiNNer-redux applies
  ``use_channels_last`` (true in both templates) only with AMP (``SRModel.memory_format``),
  so it trains NCHW here.  Each step is its train.py loop body: ``set_current_iter``,
  ``feed_data``, ``optimize_parameters(current_iter, current_accum_iter, apply_gradient)``
  and ``update_learning_rate`` (accum_iter 1); its logging/validation/checkpointing,
  every print_freq etc. iterations, is left out as it is for basicsr.  Nothing of its
  source is changed.
* ``plain``: the floor: spandrel's SPAN / RealPLKSR class with the same hyperparameters,
  ``loss = l1(net(lq), gt); opt.zero_grad(); loss.backward(); opt.step()`` and an EMA lerp
  of the parameters, nothing else (no scheduler); in srkit's default layout for the
  architecture unless ``--plain-layout`` says otherwise.

Each line says the layout the runner trained in (its 3x3 convolutions' weights and its
input batch), the network's parameter count and a hash of its state-dict keys (the three
runners' networks must agree).  Without ``--trainner-redux`` the traiNNer-redux runner is
skipped, with a line saying how to set it up.

Each runner trains in its own process on the same fixed batch (srkit, basicsr and plain
forked; traiNNer-redux a subprocess of its venv's python); the order alternates over
rounds (A B B A ...) so machine drift hits all, and the median it/s is reported with the
peak memory of the training step (CPU: growth of the process's peak resident set, VmHWM,
over its size before the model is built; for span/realplksr over its size once the model
is built (VmHWM reset then), since the three frameworks import very different amounts,
lazily, in two interpreters; the warm-up steps, which allocate the optimizer state, count;
CUDA: max allocated after the warm-up).
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import json
import logging
import multiprocessing as mp
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import time

import torch

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
sys.path.insert(0, REPO)

# traiNNer-redux's presets and their fidelity templates (options/_templates/train/), x4
NEW = {
    'span': {'preset': 'span_s', 'template': 'SPAN/SPAN_S_fidelity.yml', 'lr': 5e-4,
             'milestones': [200000, 400000, 600000, 800000], 'total_iter': 1000000,
             'spandrel': ('spandrel.architectures.SPAN', 'SPAN', {
                 'num_in_ch': 3, 'num_out_ch': 3, 'feature_channels': 48, 'upscale': 4, 'bias': True,
                 'norm': False, 'img_range': 255.0, 'rgb_mean': (0.4488, 0.4371, 0.404)})},
    'realplksr': {'preset': 'realplksr_tiny', 'template': 'RealPLKSR/RealPLKSR_Tiny_fidelity.yml', 'lr': 2e-4,
                  'milestones': [250000, 400000, 450000, 475000], 'total_iter': 500000,
                  'spandrel': ('spandrel.architectures.PLKSR', 'RealPLKSR', {
                      'dim': 64, 'n_blocks': 12, 'upscaling_factor': 4, 'kernel_size': 13, 'split_ratio': 0.25,
                      'use_ea': False, 'norm_groups': 4, 'dropout': 0, 'dysample': False, 'layer_norm': True})},
}
SETUP_HINT = 'scripts/bench/setup_trainner_redux.sh CHECKOUT, then pass --trainner-redux CHECKOUT'


def _train_opt(model: str, lr: float) -> dict:
    if model in NEW:
        s = NEW[model]
        return {'ema_decay': 0.999,
                'optim_g': {'type': 'AdamW', 'lr': s['lr'], 'weight_decay': 0, 'betas': [0.9, 0.99]},
                'scheduler': {'type': 'MultiStepLR', 'milestones': s['milestones'], 'gamma': 0.5},
                'total_iter': s['total_iter'],
                'pixel_opt': {'type': 'L1Loss', 'loss_weight': 1.0, 'reduction': 'mean'}}
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
    if a.model in NEW:
        return {'network_g': {'type': NEW[a.model]['preset']}}
    if a.model == 'srresnet':
        return {'network_g': {'type': 'MSRResNet', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 64,
                              'num_block': 16, 'upscale': 4}}
    return {'network_g': {'type': 'RRDBNet', 'num_in_ch': 3, 'num_out_ch': 3, 'scale': 4, 'num_feat': 64,
                          'num_block': a.rrdb_blocks, 'num_grow_ch': 32},
            'network_d': {'type': 'VGGStyleDiscriminator', 'num_in_ch': 3, 'num_feat': 64, 'input_size': a.gt}}


def _layout(net, x) -> str:
    """The layout of ``net``'s first k x k convolution weight (k > 1, > 1 input channel) and of
    its input ``x``: NCHW, channels_last or both named where they differ."""
    def fmt(t):
        if t.is_contiguous():
            return 'NCHW'
        return 'channels_last' if t.is_contiguous(memory_format=torch.channels_last) else 'strided'
    w = next((p for p in net.parameters() if p.dim() == 4 and p.shape[1] > 1 and p.shape[-1] > 1), None)
    lw, lx = fmt(w) if w is not None else '?', fmt(x)
    return lw if lw == lx else f'weights {lw}, input {lx}'


def _net_info(net, x) -> dict:
    keys = sorted(net.state_dict())
    return {'layout': _layout(net, x), 'params': sum(p.numel() for p in net.parameters()),
            'keys': f'{len(keys)} keys {hashlib.sha1(chr(10).join(keys).encode()).hexdigest()[:8]}'}


def basicsr_runner(a, vgg_path):
    import torchvision

    from srkit.compat import import_basicsr
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
    from srkit.utils.hostmem import keep_freed_memory
    keep_freed_memory()  # as srkit-train does first (this runner's process only: the peers keep glibc's default)
    from srkit.engine.dist import DistContext
    from srkit.models import build_model
    from srkit.models.base import EngineContext
    from srkit.options import parse_options
    nets = copy.deepcopy(_nets(a))
    train = _train_opt(a.model, 1e-4)
    if 'perceptual_opt' in train:
        train['perceptual_opt']['vgg_weights'] = vgg_path
    if variant != 'default':  # default: srkit's own choice (train.channels_last unset)
        train['channels_last'] = variant != 'contiguous'
    train['amp'] = 'bf16' if variant == 'bf16' else 'none'
    opt = parse_options({'name': 'bench', 'model_type': 'ESRGANModel' if a.model == 'esrgan' else 'SRModel',
                         'scale': 4, **nets, 'train': train, 'device': a.device})
    m = build_model(opt, EngineContext(torch.device(a.device), DistContext(), lambda *_: None))
    m.set_train(True)
    last = {}

    def step(it, batch):
        b = last['b'] = m.prepare_batch(batch)
        m.update_learning_rate(it)
        m.current_iter = it
        m.train_step(b)
        m.after_step(it)
    step.info = lambda: _net_info(m.nets['g'], last['b']['lq'])
    return step


def trainner_runner(a):
    """traiNNer-redux's SRModel, built as its train.py would from its template (see the
    module's docstring for what is changed); runs in the bench venv (``--worker trainner``)."""
    import msgspec
    from traiNNer.models.sr_model import SRModel
    from traiNNer.utils.misc import set_random_seed
    from traiNNer.utils.redux_options import ReduxOptions
    spec = NEW[a.model]
    with open(os.path.join(a.trainner_redux, 'options', '_templates', 'train', spec['template']), 'rb') as f:
        opt = msgspec.yaml.decode(f.read(), type=ReduxOptions, strict=True)
    ours = _train_opt(a.model, 0)
    opt.num_gpu = 0 if a.device == 'cpu' else 1
    opt.use_amp = False  # the template's fp16 autocast is CUDA-only ("NVIDIA only"); fp32 as srkit's default
    opt.manual_seed, opt.dist, opt.rank, opt.world_size = 0, False, 0, 1  # what its parse_options sets
    opt.auto_resume, opt.is_train, opt.root_path = False, True, os.getcwd()
    t = opt.train
    t.losses = [{'type': 'l1loss', 'loss_weight': 1.0, 'reduction': 'mean'}]
    t.optim_g, t.scheduler, t.total_iter = ours['optim_g'], ours['scheduler'], ours['total_iter']
    t.ema_decay, t.ema_power = ours['ema_decay'], 10  # 10: TrainOptions' default, a constant decay
    d = opt.datasets['train']
    d.batch_size_per_gpu, d.lq_size, d.accum_iter = a.batch, a.gt // 4, 1
    if a.device != 'cpu':
        torch.backends.cudnn.benchmark = not opt.deterministic  # as its train_pipeline
    set_random_seed(opt.manual_seed + opt.rank)
    m = SRModel(opt)
    state = {'accum': 0}

    def step(it, batch):  # train.py's loop body, current_iter = it
        state['accum'] += 1
        apply_gradient = state['accum'] >= m.accum_iters
        if apply_gradient:
            state['accum'] = 0
        m.set_current_iter(it)
        m.feed_data(batch)
        m.optimize_parameters(it, state['accum'], apply_gradient)
        if apply_gradient:
            m.update_learning_rate(it, warmup_iter=opt.train.warmup_iter)
    step.info = lambda: _net_info(m.get_bare_model(m.net_g), m.lq)
    return step


def plain_runner(a, layout):
    """The floor: spandrel's class, L1, AdamW, backward, step and an EMA lerp, nothing else."""
    import importlib
    mod, cls, kw = NEW[a.model]['spandrel']
    net = getattr(importlib.import_module(mod), cls)(**kw).to(a.device)
    fmt = torch.channels_last if layout == 'channels_last' else torch.contiguous_format
    net = net.to(memory_format=fmt).train()
    o = _train_opt(a.model, 0)['optim_g']
    opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=o['lr'],
                            weight_decay=o['weight_decay'], betas=tuple(o['betas']))
    ema = copy.deepcopy(net).requires_grad_(False)
    ema_p, net_p = list(ema.parameters()), list(net.parameters())
    last = {}

    def step(it, batch):
        lq = last['lq'] = batch['lq'].contiguous(memory_format=fmt)
        loss = torch.nn.functional.l1_loss(net(lq), batch['gt'].contiguous(memory_format=fmt))
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            torch._foreach_lerp_(ema_p, net_p, 1 - 0.999)
    step.info = lambda: _net_info(net, last['lq'])
    return step


def _rss_mb() -> float:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2 ** 20


def _peak_rss_mb() -> float:
    # VmHWM, not ru_maxrss: an exec'd process's ru_maxrss keeps its parent's peak
    with open('/proc/self/status') as f:
        return next(int(line.split()[1]) for line in f if line.startswith('VmHWM')) / 1024


def _reset_peak_rss():
    with open('/proc/self/clear_refs', 'w') as f:  # 5: VmHWM back to the current RSS (Linux >= 4.0)
        f.write('5')


def _measure(name, a, vgg_path) -> dict:
    torch.manual_seed(0)
    gt = torch.rand(a.batch, 3, a.gt, a.gt)
    batch = {'gt': gt.to(a.device), 'lq': torch.nn.functional.avg_pool2d(gt, 4).to(a.device)}
    base = _rss_mb()
    if name == 'basicsr':
        step = basicsr_runner(a, vgg_path)
    elif name == 'trainner':
        step = trainner_runner(a)
    elif name.startswith('plain'):
        step = plain_runner(a, name.split(':')[1])
    else:
        step = srkit_runner(a, vgg_path, name.split(':')[1])
    if a.model in NEW and a.device == 'cpu':
        # from the built model: not the imports, which differ by framework and interpreter
        _reset_peak_rss()
        base = _rss_mb()
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
        mem = _peak_rss_mb() - base
    info = step.info() if hasattr(step, 'info') else {}
    return {'rate': rate, 'mem': mem, 'threads': torch.get_num_threads(), **info}


def _child(name, a, vgg_path, q):
    q.put(_measure(name, a, vgg_path))


def _run_child(ctx, name, a, vgg_path) -> dict:
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(name, a, vgg_path, q))
    p.start()
    while True:  # not a bare q.get(): a runner that raises would leave it waiting forever
        try:
            r = q.get(timeout=1)
            break
        except queue.Empty:
            if not p.is_alive() and q.empty():
                sys.exit(f'the {name} runner failed (exit {p.exitcode}); its traceback is above')
    p.join()
    return r


def _worker(a):
    """``--worker trainner``: one traiNNer-redux measurement in this interpreter (the bench
    venv's), its result one JSON line on stdout; everything else printed goes to stderr."""
    out = os.fdopen(os.dup(1), 'w')
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    if a.threads:
        torch.set_num_threads(a.threads)
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)  # whatever it might write, not into the checkout
        res = _measure(a.worker, a, None)
    out.write(json.dumps(res) + '\n')
    out.flush()


def _trainner_python(a) -> str:
    py = os.path.join(a.trainner_venv, 'bin', 'python')
    if not os.path.isfile(os.path.join(a.trainner_redux, 'traiNNer', 'models', 'sr_model.py')):
        sys.exit(f'--trainner-redux {a.trainner_redux}: not a traiNNer-redux checkout')
    if not os.access(py, os.X_OK):
        sys.exit(f'{py} missing: run {SETUP_HINT} (or pass --trainner-venv)')
    return py


def _run_trainner(a, py) -> dict:
    cmd = [py, os.path.abspath(__file__), '--worker', 'trainner', '--model', a.model, '--device', a.device,
           '--batch', str(a.batch), '--gt', str(a.gt), '--steps', str(a.steps), '--threads',
           str(torch.get_num_threads()), '--trainner-redux', a.trainner_redux]
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join(
        [a.trainner_redux, REPO] + ([os.environ['PYTHONPATH']] if os.environ.get('PYTHONPATH') else []))}
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if p.returncode != 0:
        sys.stderr.write(p.stderr[-6000:])
        sys.exit(f'the traiNNer-redux runner failed (exit {p.returncode}): {" ".join(cmd)}')
    return json.loads(p.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--model', choices=['srresnet', 'esrgan', *NEW], default='srresnet')
    ap.add_argument('--device', default='cpu')
    ap.add_argument('--batch', type=int, default=None)
    ap.add_argument('--gt', type=int, default=None)
    ap.add_argument('--rrdb-blocks', type=int, default=23)
    ap.add_argument('--steps', type=int, default=10)
    ap.add_argument('--rounds', type=int, default=2)
    ap.add_argument('--variants', default=None,
                    help='srkit variants: default (srkit\'s layout choice; span/realplksr\'s default), '
                         'channels_last (srresnet/esrgan\'s default, with contiguous), contiguous, bf16')
    ap.add_argument('--trainner-redux', default=None, metavar='CHECKOUT',
                    help='span/realplksr: a traiNNer-redux checkout, to run its SRModel too')
    ap.add_argument('--trainner-venv', default=os.path.join(REPO, '.venv-trainner'),
                    help='the venv scripts/bench/setup_trainner_redux.sh made (default .venv-trainner)')
    ap.add_argument('--plain-layout', choices=['default', 'channels_last', 'contiguous'], default='default',
                    help='span/realplksr: the plain loop\'s layout (default: srkit\'s default for the network)')
    ap.add_argument('--worker', choices=['trainner'], help=argparse.SUPPRESS)
    ap.add_argument('--threads', type=int, default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    a.batch = a.batch or (4 if a.model in ('srresnet', *NEW) else 2)
    a.gt = a.gt or (96 if a.model == 'srresnet' else 128)
    if a.trainner_redux:
        a.trainner_redux = os.path.abspath(a.trainner_redux)
    if a.worker:
        return _worker(a)
    new = a.model in NEW
    a.variants = a.variants or ('default' if new else 'channels_last,contiguous')
    srkit_names = [f'srkit:{v}' for v in a.variants.split(',')]
    py = None
    if new:
        from srkit.archs import trains_channels_last
        layout = a.plain_layout
        if layout == 'default':
            layout = 'channels_last' if trains_channels_last(_nets(a)['network_g']) else 'contiguous'
        names = srkit_names + [f'plain:{layout}']
        if a.trainner_redux:
            py = _trainner_python(a)
            names.insert(0, 'trainner')
    elif a.trainner_redux:
        sys.exit('--trainner-redux is for --model span or realplksr')
    else:
        names = ['basicsr'] + srkit_names
    with tempfile.TemporaryDirectory() as tmp:
        vgg_path = None
        if not new:
            from torchvision.models import vgg19
            vgg_path = os.path.join(tmp, 'vgg19.pth')
            torch.manual_seed(0)
            torch.save(vgg19(weights=None).state_dict(), vgg_path)  # speed does not depend on the values
        ctx = mp.get_context('fork' if a.device == 'cpu' else 'spawn')
        res = {n: [] for n in names}
        for r in range(a.rounds):
            for n in (names if r % 2 == 0 else names[::-1]):
                if n == 'trainner':
                    res[n].append(_run_trainner(a, py))
                    continue
                res[n].append(_run_child(ctx, n, a, vgg_path))
    ref = 'plain' if new else 'basicsr'
    base = statistics.median(x['rate'] for x in res[next(n for n in names if n.split(':')[0] == ref)])
    unit = 'MiB max allocated' if a.device != 'cpu' else 'MiB RSS growth'
    print(f'{a.model} | device {a.device} | threads {torch.get_num_threads()} | batch {a.batch} gt {a.gt}'
          + (f' | RRDB blocks {a.rrdb_blocks}' if a.model == 'esrgan' else '')
          + (f' | {NEW[a.model]["preset"]}, L1, AdamW, EMA 0.999' if new else '')
          + f' | {a.rounds} rounds x {a.steps} steps, median')
    if new and not a.trainner_redux:
        print(f'trainner               not given: set it up with {SETUP_HINT}')
    for n, v in res.items():
        rate = statistics.median(x['rate'] for x in v)
        mem = max(x['mem'] for x in v)
        line = f'{n:22s} {rate:8.3f} it/s  {rate / base:5.2f}x vs {ref:9s} peak {mem:8.1f} {unit}'
        if new:
            x = v[-1]
            line += f'  | {x["layout"]} | {x["params"]:,} params, {x["keys"]}'
            if x['threads'] != torch.get_num_threads():
                line += f' | {x["threads"]} threads'
        print(line)


if __name__ == '__main__':
    main()
