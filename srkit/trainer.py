"""The iteration-based training loop shared by every model family.

Per iteration: next batch -> ``model.prepare_batch`` -> lr schedule ->
``model.train_step`` -> EMA -> logging -> validation -> checkpoint.

Resume is exact: each sample's randomness comes from a seed derived from
(manual_seed, epoch, position) (see :mod:`srkit.data.sampler`), and the state
file stores the iteration, epoch, every global RNG (per rank), optimizers,
schedulers, grad scalers and model extras.  Checkpoints are atomic and the
state file is written last, so any state on disk has its network files.
"""
from __future__ import annotations

import gc
import glob
import math
import os
import re
import shutil
import signal
import time
from typing import Optional

import torch

from . import __version__
from .data import build_dataset, build_train_loader, build_val_loader
from .data.loader import loader_workers
from .engine.context import EngineContext
from .engine.dist import DistContext, init_distributed, pick_device
from .engine.logger import TrainLogger
from .engine.rng import get_rng_state, seed_everything, set_rng_state
from .errors import OptionError, TrainingDiverged, UserError
from .metrics import build_val_metrics, convention, quantize
from .models import build_model
from .options import Options
from .utils.checkpoint import check_compatible, load_checkpoint, save_checkpoint
from .utils.fileio import check_free_space, folder_lock, remove_stale_temps
from .utils.imgio import tensor2img, write_image


def experiment_dir(opt: Options) -> str:
    root = opt.path.experiments_root or os.path.join('experiments')
    return os.path.join(root, opt.name)


_NEVER = 2 ** 62  # _bad_at holds _NEVER - (first bad iteration): the max over steps keeps the first


def find_latest_state(exp_dir: str) -> Optional[str]:
    states = glob.glob(os.path.join(exp_dir, 'training_states', '*.state'))
    its = sorted((int(m.group(1)), p) for p in states
                 if (m := re.match(r'^(\d+)\.state$', os.path.basename(p))))
    return its[-1][1] if its else None


class Trainer:
    def __init__(self, opt: Options, auto_resume: bool = False, quiet: bool = False):
        if opt.train is None:
            raise OptionError('train: required for srkit-train')
        if 'train' not in opt.datasets:
            raise OptionError('datasets.train: required for srkit-train')
        self.opt = opt
        self.dist: DistContext = init_distributed(opt.dist_params.backend, opt.dist_params.port)
        self.device = pick_device(opt.device, opt.num_gpu, self.dist)
        self.exp_dir = experiment_dir(opt)
        resume_path = opt.path.resume_state
        if auto_resume and resume_path is None:
            resume_path = find_latest_state(self.exp_dir)

        # Everything that can fail on the user's input (data, networks, losses, the state to resume
        # and whether it fits these options) runs before the experiment folder is touched: a start
        # that fails archives nothing and leaves no empty run behind for --auto_resume to trip on.
        seed_everything(opt.manual_seed + self.dist.rank)
        torch.backends.cudnn.benchmark = self.device.type == 'cuda'
        tr = opt.datasets['train']
        self.train_set = build_dataset(tr)
        self.loader, self.sampler = build_train_loader(tr, self.train_set, opt.manual_seed,
                                                       self.dist.rank, self.dist.world, self.device)
        # an iteration is one optimizer step over accum_iter batches
        self.accum = opt.train.accum_iter
        self.batches_per_epoch = self.sampler.per_replica // tr.batch_size_per_gpu
        if self.batches_per_epoch < 1:
            raise OptionError(f'datasets.train.batch_size_per_gpu: {tr.batch_size_per_gpu} exceeds the '
                              f'{self.sampler.per_replica} images per process (raise dataset_enlarge_ratio)')
        self.val_sets = {k: build_dataset(v) for k, v in opt.val_datasets.items()}
        self.val_metrics = build_val_metrics(opt.val.metrics, self.device) if opt.val is not None else {}

        self.start_iter = 0
        self.best: dict[str, tuple[float, int]] = {}  # 'valset/metric' -> (best value, iteration)
        state = None
        if resume_path:
            state = load_checkpoint(resume_path)
            if not isinstance(state, dict) or not isinstance(state.get('iter'), int):
                raise UserError(f'{resume_path}: not a training state (.state file with an iteration)')
            self.start_iter = int(state['iter'])
            self._check_setup(state.get('setup'), resume_path)
        pending: list[str] = []  # what the model logs while being built: written once the log exists
        if loader_workers(tr.num_worker_per_gpu) < tr.num_worker_per_gpu:
            pending.append(f'datasets.train.num_worker_per_gpu: {tr.num_worker_per_gpu} capped at '
                           f'{loader_workers(tr.num_worker_per_gpu)}, the CPUs this process may use')
        ctx = EngineContext(self.device, self.dist, pending.append)
        self.model = build_model(opt, ctx)
        if state is not None:
            self._load_state(state, resume_path, pending.append)

        self._lock = None
        if self.dist.is_main:
            # one writer per experiment: a second srkit-train on the same name is refused
            self._lock = folder_lock(self.exp_dir, 'srkit-train')
            self._lock.__enter__()
        try:
            self._open_folder(resume_path, auto_resume, quiet, pending)
        except BaseException:
            self.release()
            raise
        ctx.log = self.logger.info

    def release(self) -> None:
        """Let go of the experiment's lock (the end of fit, or a failed start)."""
        if self._lock is not None:
            self._lock.__exit__(None, None, None)
            self._lock = None

    def _open_folder(self, resume_path, auto_resume: bool, quiet: bool, pending: list) -> None:
        """Archive an earlier run of this name (unless resuming), clear a killed run's temporaries,
        and open the log, replaying what was logged before it existed."""
        opt = self.opt
        stale = 0
        if self.dist.is_main:
            if resume_path is None and os.path.isdir(self.exp_dir) and not auto_resume:
                # never overwrite a previous run: archive it as BasicSR does
                archived = f'{self.exp_dir}_archived_{time.strftime("%Y%m%d_%H%M%S")}'
                shutil.move(self.exp_dir, archived)
            stale = remove_stale_temps(self.exp_dir) if os.path.isdir(self.exp_dir) else 0
            for sub in ('models', 'training_states', 'visualization'):
                os.makedirs(os.path.join(self.exp_dir, sub), exist_ok=True)
        self.dist.barrier()
        self.logger = TrainLogger(self.exp_dir, opt.name, self.dist.is_main, opt.train.total_iter,
                                  self.start_iter, opt.logger.use_tb_logger, quiet)
        for msg in pending:
            self.logger.info(msg)
        if stale:
            self.logger.info(f'removed {stale} temporary file(s) left by an interrupted run')
        self.logger.info(f'srkit {__version__} | {opt.model_type} | device {self.device} | '
                         f'world {self.dist.world} | {len(self.train_set)} training images, '
                         f'{self.batches_per_epoch / self.accum:g} it/epoch | amp {opt.train.amp}')
        self._stop_signal = None

    # ----------------------------------------------------------------- resume
    def _load_state(self, state: dict, path: str, log) -> None:
        it = int(state['iter'])
        files = {}
        models = os.path.join(os.path.dirname(os.path.dirname(path)), 'models')
        raw = state.get('raw_params', {})  # safetensors files hold the EMA; the raw weights are here
        for name in self.model.nets:
            p = os.path.join(models, f'net_{name}_{it}.pth')
            if not os.path.exists(p):
                p = os.path.join(models, f'net_{name}_{it}.safetensors')
            if not os.path.exists(p):
                raise UserError(f'{path}: its network file models/net_{name}_{it}.pth (or .safetensors) is missing '
                                f'from {models} ({self.opt.model_type} has networks {", ".join(self.model.nets)})')
            f = load_checkpoint(p)
            if name in raw:
                f = {'params': raw[name], 'params_ema': f.get('params_ema', f.get('params'))}
            for key in ('params', 'params_ema'):  # a changed network option is one line, not a traceback
                if isinstance(f, dict) and isinstance(f.get(key), dict):
                    check_compatible(self.model.nets[name], f[key], p)
            files[f'net_{name}'] = f
        self.model.load_network_files(files)
        if 'model' not in state:  # BasicSR's .state: optimizers and schedulers as lists, in build order
            self.model.load_state_dict(self._from_basicsr(state, path))
            log(f'resumed from BasicSR\'s {path} at iteration {it}: networks, optimizers, schedulers '
                'and the iteration; BasicSR keeps no RNG or data position, so these start afresh')
            return
        try:
            self.model.load_state_dict(state['model'])
        except (KeyError, ValueError, RuntimeError, TypeError) as e:  # a state from other options
            detail = ' '.join(str(e).split())[:160]
            raise UserError(f'{path}: its optimizer/scheduler states do not fit these options ({detail}); resume '
                            'with the options the run started with, or start a new run without --auto_resume') from None
        self.best = {k: tuple(v) for k, v in state.get('best', {}).items()}
        rngs = state['rng']
        set_rng_state(rngs[self.dist.rank] if self.dist.rank < len(rngs) else rngs[0])
        ranks = state.get('rank_model', [])
        if ranks:
            self.model.load_rank_state(ranks[self.dist.rank] if self.dist.rank < len(ranks) else ranks[0])
        log(f'resumed from {path} at iteration {it}')

    def _check_setup(self, saved, path: str) -> None:
        """One line naming the first option that changed since ``saved`` (a state's ``setup``)."""
        if not isinstance(saved, dict):
            return  # an older srkit's or BasicSR's state: the network files are checked key by key
        now = _flat(self._setup())
        for key, was in _flat(saved).items():
            if key in now and now[key] != was:
                raise UserError(f'{key}: {was!r} in the run being resumed ({path}), {now[key]!r} now; resume '
                                'with the options the run started with, or start a new run without --auto_resume')

    def _setup(self) -> dict:
        """What a resumed run must share with this one: each network's constructor arguments and
        each optimizer's and the scheduler's type (learning rates may change on resume)."""
        o = self.opt
        nets = o.model_class.network_names
        out = {f'network_{n}': getattr(o, f'network_{n}').model_dump(mode='json') for n in nets
               if getattr(o, f'network_{n}', None) is not None}
        out.update({f'train.optim_{n}.type': s.type for n, s in o.train.optimizers.items()})
        if getattr(o.train, 'scheduler', None) is not None:
            out['train.scheduler.type'] = o.train.scheduler.type
        return out

    def _from_basicsr(self, state: dict, path: str) -> dict:
        """BasicSR's ``{'optimizers': [...], 'schedulers': [...]}`` as this model's state."""
        out = {'optimizers': {}, 'schedulers': {}, 'scalers': {}, 'extra': {}}
        for kind, own in (('optimizers', self.model.optimizers), ('schedulers', self.model.schedulers)):
            theirs = state.get(kind, [])
            if not isinstance(theirs, list) or len(theirs) != len(own):
                raise UserError(f'{path}: holds {len(theirs) if isinstance(theirs, list) else "no"} {kind[:-1]} '
                                f'state(s); {self.opt.model_type} here has {len(own)} ({", ".join(own) or "none"})')
            out[kind] = dict(zip(own, theirs))
        return out

    def _save(self, it: int) -> None:
        self._check_finite(it)  # never save non-finite weights over finite ones
        rngs = self.dist.gather_objects(get_rng_state())
        rank_model = self.dist.gather_objects(self.model.rank_state())
        if not self.dist.is_main:
            return
        models_dir = os.path.join(self.exp_dir, 'models')
        fmt = self.opt.logger.save_format
        raw_params = {}
        files, model_state = self.model.network_files(it), self.model.state_dict()
        # the files' size is their tensors' (and the latest link costs nothing): check it all
        # fits before writing any of it, with a margin for pickling and the log
        needed = _tensor_bytes(files) + _tensor_bytes(model_state) * (1 + (fmt == 'safetensors'))
        check_free_space(self.exp_dir, int(needed * 1.1) + (1 << 20), f'the checkpoint of iteration {it}')
        for stem, content in files.items():
            path = os.path.join(models_dir, f'{stem}_{it}.{fmt}')
            save_checkpoint(content, path)
            _point_latest(path, os.path.join(models_dir, f'{stem}_latest.{fmt}'))
            if fmt == 'safetensors' and 'params_ema' in content:  # one flat dict per file: the EMA
                raw_params[stem[len('net_'):]] = content['params']
        epoch, batch = divmod(it * self.accum, self.batches_per_epoch)
        state = {
            'iter': it,
            'epoch': epoch,
            'sampler': {'seed': self.opt.manual_seed, 'epoch': epoch,
                        'position': batch * self.opt.datasets['train'].batch_size_per_gpu},
            'best': self.best,
            'raw_params': raw_params,
            'model': model_state,
            'setup': self._setup(),
            'rng': rngs,
            'rank_model': rank_model,
            'srkit_version': __version__,
        }
        save_checkpoint(state, os.path.join(self.exp_dir, 'training_states', f'{it}.state'))
        keep = self.opt.logger.keep_checkpoints
        if keep > 0:
            states = sorted(glob.glob(os.path.join(self.exp_dir, 'training_states', '*.state')),
                            key=lambda p: int(os.path.basename(p).split('.')[0]))
            for old in states[:-keep]:
                os.unlink(old)

    # --------------------------------------------------------------- the loop
    def _batches(self, start_iter: int):
        """Yield batches forever, starting exactly where iteration ``start_iter`` left off."""
        bs = self.opt.datasets['train'].batch_size_per_gpu
        epoch, pos = divmod(start_iter * self.accum, self.batches_per_epoch)
        pos *= bs
        while True:
            self.sampler.set_epoch(epoch, pos)
            for batch in self.loader:
                yield batch
            epoch, pos = epoch + 1, 0

    def _on_signal(self, signum, frame):
        self._stop_signal = signum
        # a second Ctrl-C stops at once; checkpoints are atomic, so nothing is torn
        signal.signal(signum, signal.SIG_DFL)

    def fit(self) -> int:
        opt, topt = self.opt, self.opt.train
        old = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        self.model.set_train(True)
        batches = self._batches(self.start_iter)
        loss_sums: dict[str, torch.Tensor] = {}
        n_logged = 0
        skip = topt.nonfinite == 'skip_step'
        # the first iteration with a non-finite loss (as _NEVER - it, max-reduced) and which losses:
        # kept on the device, read at each log line and before each save (no per-step host sync)
        self._bad_at = torch.zeros((), dtype=torch.long, device=self.device)
        self._bad_losses: dict[str, torch.Tensor] = {}
        t0, it0 = time.time(), self.start_iter
        it = self.start_iter
        try:
            for it in range(self.start_iter + 1, topt.total_iter + 1):
                for k in range(self.accum):
                    batch = self.model.prepare_batch(next(batches))
                    if k == 0:
                        self.model.update_learning_rate(it)
                        self.model.current_iter = it
                    self.model.micro = (k, self.accum)
                    with self.model.accumulating():
                        losses = self.model.train_step(batch)
                    finite = self._watch_losses(losses, it)
                    # summed on the device; no host sync until we print.  skip_step leaves the
                    # skipped steps' losses out of the mean
                    for name, v in losses.items():
                        v = torch.where(finite, v.detach(), torch.zeros_like(v)) if skip else v
                        loss_sums[name] = loss_sums[name] + v if name in loss_sums else v.clone()
                    n_logged = n_logged + (finite.long() if skip else 1)
                self.model.after_step(it)
                if it % opt.logger.print_freq == 0 or it == topt.total_iter:
                    self._check_finite(it)
                    self._log(it, loss_sums, n_logged, t0, it0)
                    loss_sums, n_logged, t0, it0 = {}, 0, time.time(), it
                self.logger.advance(1)
                if opt.val is not None and (it % opt.val.val_freq == 0 or it == topt.total_iter):
                    if self.val_sets:
                        self.validate(it)
                    self.save_snapshots(it)
                if it % opt.logger.save_checkpoint_freq == 0 or it == topt.total_iter:
                    self._save(it)
                if self._should_stop(it) and it < topt.total_iter:
                    if it % opt.logger.save_checkpoint_freq:
                        self._save(it)
                    self.logger.info(f'stopped by signal at iteration {it}; checkpoint saved, '
                                     'continue with --auto_resume')
                    return 128 + (self._stop_signal or signal.SIGTERM)
            self.logger.info(f'training done at iteration {it}; models in {os.path.join(self.exp_dir, "models")}')
            return 0
        finally:
            for s, h in old.items():
                signal.signal(s, h)
            self.logger.close()
            self.release()

    def _watch_losses(self, losses: dict, it: int) -> torch.Tensor:
        """Device-side bookkeeping of non-finite losses; returns the step's all-finite flag."""
        if not losses:
            return torch.ones((), dtype=torch.bool, device=self.device)
        flags = torch.isfinite(torch.stack([v.detach().float().reshape(()) for v in losses.values()]))
        self._bad_at = torch.maximum(self._bad_at, (~flags.all()).long() * (_NEVER - it))
        for (name, v), ok in zip(losses.items(), flags):
            bad = ~ok
            self._bad_losses[name] = self._bad_losses[name] | bad if name in self._bad_losses else bad
        return flags.all()

    def _check_finite(self, it: int) -> None:
        """Stop (train.nonfinite: stop) on a non-finite loss since the last check, and in any mode
        on non-finite weights: one line naming the iteration and the loss; nothing saved."""
        topt = self.opt.train
        if topt.nonfinite == 'skip_step':
            skipped = sum(self.model.skipped_steps.values())
            if skipped > getattr(self, '_skipped_logged', 0):
                self.logger.info(f'train.nonfinite skip_step: {skipped} step(s) with non-finite gradients skipped '
                                 f'so far ({", ".join(f"{k}: {v}" for k, v in self.model.skipped_steps.items())})')
                self._skipped_logged = skipped
        else:
            first = int(self._bad_at)  # the host sync, at a log line or a save only
            if first:
                names = [n for n, f in self._bad_losses.items() if bool(f)]
                self._diverged(f'non-finite loss ({", ".join(names)}) at iteration {_NEVER - first}')
        bad = self.model.nonfinite_weights()
        if bad:
            self._diverged(f'non-finite weights ({bad[0]}{f" and {len(bad) - 1} more" if len(bad) > 1 else ""}) '
                           f'by iteration {it}')

    def _diverged(self, what: str) -> None:
        last = find_latest_state(self.exp_dir)
        keep = (f'the last finite state, iteration {os.path.basename(last).split(".")[0]}, is kept'
                if last else 'nothing was saved')
        msg = (f'training stopped: {what}; {keep} (lower the learning rate, set train.grad_clip, or '
               'train.nonfinite: skip_step, then --auto_resume)')
        self.logger.info(msg)
        raise TrainingDiverged(msg)

    def _should_stop(self, it: int) -> bool:
        local = self._stop_signal is not None
        if not self.dist.enabled:
            return local
        # ranks must agree on the stopping iteration; a tiny all-reduce every
        # 10 iterations avoids a host sync on every step
        return it % 10 == 0 and self.dist.any_flag(local, self.device)

    def _log(self, it, loss_sums, n, t0, it0):
        n = n.clamp(min=1) if isinstance(n, torch.Tensor) else max(n, 1)  # a tensor under skip_step
        vals = torch.stack([v.float() for v in loss_sums.values()]) / n if loss_sums else None
        if vals is not None:
            vals = self.dist.all_reduce_sum(vals) / self.dist.world
            vals = vals.tolist()
        losses = dict(zip(loss_sums, vals or []))
        dt = time.time() - t0
        ips = (it - it0) / dt if dt > 0 else float('nan')
        eta = (self.opt.train.total_iter - it) / ips if ips > 0 else float('nan')
        lrs = self.model.current_lr()
        lr_txt = ' '.join(f'lr_{k} {v:.3e}' for k, v in lrs.items())
        loss_txt = ' '.join(f'{k} {v:.4e}' for k, v in losses.items())
        eta_txt = format_eta(eta)
        self.logger.info(f'[iter {it:>7d}/{self.opt.train.total_iter}] {ips:.2f} it/s eta {eta_txt} | '
                         f'{lr_txt} | {loss_txt}')
        self.logger.scalars(losses, it, 'losses/')
        self.logger.scalars({f'lr_{k}': v for k, v in lrs.items()}, it, 'train/')
        self.logger.advance(0, {k: f'{v:.3e}' for k, v in losses.items()})

    # ------------------------------------------------------------- validation
    def save_snapshots(self, it: int) -> None:
        """The model's sample images (CGAN's grid) to ``visualization/<name>_<iter>.png`` and TensorBoard."""
        if not self.dist.is_main:
            return
        cpu_rng = torch.get_rng_state()
        for name, img in self.model.snapshots().items():
            write_image(os.path.join(self.exp_dir, 'visualization', f'{name}_{it}.png'), tensor2img(img))
            self.logger.image(f'samples/{name}', img.clamp(0, 1).cpu(), it)
        torch.set_rng_state(cpu_rng)

    @torch.no_grad()
    def validate(self, it: int) -> dict:
        """PSNR/SSIM (srkit.metrics, pyiqa) on each val set, sharded across ranks."""
        vopt = self.opt.val
        results = {}
        cpu_rng = torch.get_rng_state()  # validation must not move the training RNG
        for name, ds in self.val_sets.items():
            loader = build_val_loader(self.opt.datasets[name], ds, self.dist.rank, self.dist.world)
            # per metric: the sum of its finite values and their count (NIQE is NaN on small images)
            sums = torch.zeros(2 * len(vopt.metrics), dtype=torch.float64)
            n_images = 0
            shown = 0
            if vopt.pbar and self.dist.is_main:
                from tqdm import tqdm
                loader = tqdm(loader, desc=f'val {name}', unit='img', leave=False, dynamic_ncols=True)
            for batch in loader:
                lq = batch['lq'].to(self.device)
                gt = batch['gt'].to(self.device)
                if self.model.channels_last:
                    lq = lq.contiguous(memory_format=torch.channels_last)
                sr = quantize(self.model.test(lq).float())
                for i, fn in enumerate(self.val_metrics.values()):
                    v = fn(sr, gt).cpu()
                    ok = torch.isfinite(v)
                    sums[2 * i] += v[ok].sum()
                    sums[2 * i + 1] += ok.sum()
                n_images += sr.shape[0]
                key = batch['key'][0]
                if vopt.save_img:  # each rank writes its own shard
                    suffix = vopt.suffix or str(it)
                    write_image(os.path.join(self.exp_dir, 'visualization', name, f'{key}_{suffix}.png'),
                                tensor2img(sr))
                if self.dist.is_main and shown < vopt.max_tb_images:
                    self.logger.image(f'val_{name}/{key}', sr[0].clamp(0, 1).cpu(), it)
                    shown += 1
            sums = self.dist.all_reduce_sum(sums)
            count = int(self.dist.all_reduce_sum(torch.tensor([float(n_images)]))[0].item())
            res = {mname: (sums[2 * i] / sums[2 * i + 1]).item() if sums[2 * i + 1] > 0 else float('nan')
                   for i, mname in enumerate(vopt.metrics)}
            results[name] = res
            full_ref = [m for m in vopt.metrics.values() if m.kind in ('psnr', 'ssim')]
            conv = 'y' if all(m.test_y_channel for m in full_ref) else 'rgb'
            crops = '/'.join(sorted({str(m.crop_border) for m in vopt.metrics.values()}))
            txt = ' '.join(f'{k} {v:.4f}' for k, v in res.items())
            how = convention(conv, crops, ssim=any(m.kind == 'ssim' for m in full_ref))
            if any(m.kind == 'niqe' for m in vopt.metrics.values()):
                how += '; NIQE on Y'
            if any(m.kind == 'lpips' for m in vopt.metrics.values()):
                how += '; LPIPS on RGB'
            best = []
            for mname, v in res.items():  # the best value so far, each metric's way (`better`)
                key, sign = f'{name}/{mname}', 1 if vopt.metrics[mname].higher_is_better else -1
                if v == v and (key not in self.best or sign * v > sign * self.best[key][0]):
                    self.best[key] = (v, it)
                if key in self.best:
                    best.append(f'{mname} {self.best[key][0]:.4f} @ {self.best[key][1]}')
            self.logger.info(f'[val {name} @ {it}] {txt} ({count} images; {how}); best: {", ".join(best)}')
            self.logger.scalars(res, it, f'val_{name}/')
        torch.set_rng_state(cpu_rng)
        self.model.set_train(True)
        return results


def _tensor_bytes(obj) -> int:
    """Bytes of every tensor in a nest of dicts and lists (what torch.save will write)."""
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(_tensor_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_tensor_bytes(v) for v in obj)
    return 0


def _flat(d: dict, prefix: str = '') -> dict:
    """``{'network_g': {'num_feat': 64}}`` -> ``{'network_g.num_feat': 64}``."""
    out = {}
    for k, v in d.items():
        key = f'{prefix}{k}'
        if isinstance(v, dict):
            out.update(_flat(v, key + '.'))
        else:
            out[key] = v
    return out


def _point_latest(path: str, latest: str) -> None:
    """``net_<name>_latest.<fmt>``, as BasicSR writes it, beside each save: a hard link to the
    newest file (a copy where links are not possible), swapped in atomically."""
    tmp = os.path.join(os.path.dirname(latest), f'.{os.path.basename(latest)}.{os.getpid()}.tmp')
    try:
        os.link(path, tmp)
    except OSError:
        shutil.copyfile(path, tmp)
    os.replace(tmp, latest)


def train(opt: Options, auto_resume: bool = False, quiet: bool = False) -> int:
    dist = torch.distributed
    try:
        trainer = Trainer(opt, auto_resume, quiet)
        code = trainer.fit()
        # DDP's wrappers and reducers keep the process group alive, and reference cycles keep
        # them: freed only at interpreter exit, gloo's threads then die with the C++ runtime
        # ("terminate called without an active exception", SIGABRT after a finished run).
        # Free them now, so destroy_process_group below joins those threads
        del trainer
        gc.collect()
        if dist.is_available() and dist.is_initialized():
            dist.barrier()  # leave together: no rank tears its group down while rank 0 still saves
        return code
    finally:
        if dist.is_available() and dist.is_initialized():
            gc.collect()  # the same, after an error
            dist.destroy_process_group()


def format_eta(seconds: float) -> str:
    """``HH:MM:SS``, with days in front past one (``3d 04:05:06``); ``?`` when unknown, and
    ``> 1e6 d`` past what a clock can show (a total_iter of 10**10 at a slow rate)."""
    if not math.isfinite(seconds) or seconds < 0:
        return '?'
    if seconds >= 86400 * 1e6:
        return '> 1e6 d'
    s = int(seconds)
    days, rest = divmod(s, 86400)
    clock = f'{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}'
    return f'{days}d {clock}' if days else clock
