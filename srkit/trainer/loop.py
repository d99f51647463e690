"""The iteration loop: :class:`Trainer` and :func:`train`, srkit-train's library entry.

Per iteration: next batch -> ``model.prepare_batch`` -> lr schedule -> ``model.train_step`` ->
EMA -> logging -> validation -> checkpoint.  The experiment folder and checkpoints are
:mod:`.state`'s, the val sets and metrics :mod:`.validation`'s.

Resume is exact: each sample's randomness comes from a seed derived from (manual_seed, epoch,
position) (see :mod:`srkit.data.sampler`), and the state file keeps the data position and
every RNG.
"""
from __future__ import annotations

import gc
import math
import os
import signal
import time

import torch

from .. import __version__
from ..data import build_dataset, build_train_loader
from ..data.loader import loader_workers
from ..engine.context import EngineContext
from ..engine.dist import DistContext, init_distributed
from ..engine.logger import TrainLogger
from ..engine.rng import seed_everything
from ..errors import OptionError, TrainingDiverged
from ..models import build_model
from ..options import Options
from ..utils.device import pick_device
from ..utils.naming import name as field_name
from .state import ExperimentFolder, find_latest_state, read_state, restore
from .validation import Validation

_NEVER = 2 ** 62  # _bad_at holds _NEVER - (first bad iteration): the max over steps keeps the first


def check_for_training(opt: Options) -> None:
    """What srkit-train needs of options that other tools read too (a ``train:`` section and a
    training set); raised before anything is built."""
    if opt.train is None:
        raise OptionError('train: required for srkit-train')
    if 'train' not in opt.datasets:
        raise OptionError('datasets.train: required for srkit-train')


def train(opt: Options, auto_resume: bool = False, quiet: bool = False) -> int:
    """Train as ``opt`` says (continuing the newest state with ``auto_resume``); returns the exit
    code: 0 when done, 128 + the signal when a signal stopped it (after a checkpoint)."""
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


class Trainer:
    """One training run: built from options (everything that can fail on the user's input is
    checked before the experiment folder is touched), then :meth:`fit`."""

    def __init__(self, opt: Options, auto_resume: bool = False, quiet: bool = False):
        check_for_training(opt)
        self.opt = opt
        self.dist: DistContext = init_distributed(opt.dist_params.backend, opt.dist_params.port)
        self.device = pick_device(opt.device, 'device', num_gpu=opt.num_gpu,
                                  local_rank=self.dist.local_rank if self.dist.enabled else None)
        self.folder = ExperimentFolder(opt, self.dist)
        self.exp_dir = self.folder.path
        resume_path = opt.path.resume_state
        if auto_resume and resume_path is None:
            resume_path = find_latest_state(self.exp_dir)

        # Everything that can fail on the user's input (data, networks, losses, the state to resume
        # and whether it fits these options) runs before the experiment folder is touched: a start
        # that fails archives nothing and leaves no empty run behind for a resumed run to trip on.
        seed_everything(opt.manual_seed + self.dist.rank)
        torch.backends.cudnn.benchmark = self.device.type == 'cuda'
        if self.device.type == 'cuda' and opt.train.tf32:
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
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
        self.validation = Validation(opt, self.dist, self.device, self.exp_dir)

        self.start_iter = 0
        state = read_state(resume_path, opt) if resume_path else None
        if state is not None:
            self.start_iter = int(state['iter'])
        # what the model logs while being built, written once the log exists; first, what reading
        # another project's recipe changed
        pending: list[str] = list(opt.notes)
        if loader_workers(tr.num_worker_per_gpu) < tr.num_worker_per_gpu:
            pending.append(f'datasets.train.num_worker_per_gpu: {tr.num_worker_per_gpu} capped at '
                           f'{loader_workers(tr.num_worker_per_gpu)}, the CPUs this process may use')
        ctx = EngineContext(self.device, self.dist, pending.append)
        self.model = build_model(opt, ctx)
        if state is not None:
            self.validation.best = restore(self.model, state, resume_path, opt, self.dist.rank, pending.append)
            self.model.training_weights()

        self.folder.lock()
        try:
            self._open_log(resume_path is None and not auto_resume, quiet, pending)
        except BaseException:
            self.release()
            raise
        ctx.log = self.logger.info

    def _open_log(self, archive: bool, quiet: bool, pending: list) -> None:
        """Prepare the folder (archiving an earlier run of this name for a new run) and open the
        log, replaying what was logged before it existed."""
        opt = self.opt
        stale = self.folder.prepare(archive)
        self.logger = TrainLogger(self.exp_dir, opt.name, self.dist.is_main, opt.train.total_iter,
                                  self.start_iter, opt.logger.use_tb_logger, quiet)
        for msg in pending:
            self.logger.info(msg)
        if stale:
            self.logger.info(f'removed {stale} temporary file(s) left by an interrupted run')
        self.logger.info(f'srkit {__version__} | {opt.model_type} | device {self.device} | '
                         f'world {self.dist.world} | {len(self.train_set)} training images, '
                         f'{self.batches_per_epoch / self.accum:g} it/epoch | amp {opt.train.amp} | '
                         f'{"channels-last" if self.model.channels_last else "NCHW"}')
        self._stop_signal = None

    def release(self) -> None:
        """Let go of the experiment's lock (the end of fit, or a failed start)."""
        self.folder.release()

    @property
    def best(self) -> dict:
        """The best value of each val metric so far: ``{'valset/metric': (value, iteration)}``."""
        return self.validation.best

    @property
    def val_sets(self) -> dict:
        return self.validation.sets

    # --------------------------------------------------------------- the loop
    def fit(self) -> int:
        """Train to ``train.total_iter``; returns 0, or 128 + the signal that stopped it."""
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
                if self.validation.due(it):
                    with self.model.evaluation_weights():
                        if self.val_sets:
                            self.validate(it)
                        self.save_snapshots(it)
                if it % opt.logger.save_checkpoint_freq == 0 or it == topt.total_iter:
                    with self.model.evaluation_weights():
                        self._save(it)
                if self._should_stop(it) and it < topt.total_iter:
                    if it % opt.logger.save_checkpoint_freq:
                        with self.model.evaluation_weights():
                            self._save(it)
                    self.logger.info(f'stopped by signal at iteration {it}; checkpoint saved, '
                                     f'continue with {field_name("auto_resume")}')
                    return 128 + (self._stop_signal or signal.SIGTERM)
            self.logger.info(f'training done at iteration {it}; models in {os.path.join(self.exp_dir, "models")}')
            return 0
        finally:
            for s, h in old.items():
                signal.signal(s, h)
            self.logger.close()
            self.release()

    def _batches(self, start_iter: int):
        """Yield batches forever, starting exactly where iteration ``start_iter`` left off."""
        epoch, pos = divmod(start_iter * self.accum, self.batches_per_epoch)
        pos *= self.opt.datasets['train'].batch_size_per_gpu
        while True:
            self.sampler.set_epoch(epoch, pos)
            for batch in self.loader:
                yield batch
            epoch, pos = epoch + 1, 0

    def validate(self, it: int) -> dict:
        """Each val set's metrics at iteration ``it`` (:meth:`.validation.Validation.run`)."""
        return self.validation.run(self.model, it, self.logger)

    def save_snapshots(self, it: int) -> None:
        """The model's sample images (CGAN's grid), if it has any."""
        self.validation.save_snapshots(self.model, it, self.logger)

    def _save(self, it: int) -> None:
        """A checkpoint of iteration ``it``, after the finite checks (never non-finite weights
        over finite ones), with the data position the next iteration starts from."""
        self._check_finite(it)
        epoch, batch = divmod(it * self.accum, self.batches_per_epoch)
        self.folder.save(self.model, it, epoch, batch * self.opt.datasets['train'].batch_size_per_gpu, self.best)

    # ---------------------------------------------------------------- signals
    def _on_signal(self, signum, frame):
        self._stop_signal = signum
        # a second Ctrl-C stops at once; checkpoints are atomic, so nothing is torn
        signal.signal(signum, signal.SIG_DFL)

    def _should_stop(self, it: int) -> bool:
        local = self._stop_signal is not None
        if not self.dist.enabled:
            return local
        # ranks must agree on the stopping iteration; a tiny all-reduce every
        # 10 iterations avoids a host sync on every step
        return it % 10 == 0 and self.dist.any_flag(local, self.device)

    # ------------------------------------------------------------- divergence
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
               f'train.nonfinite: skip_step, then {field_name("auto_resume")})')
        self.logger.info(msg)
        raise TrainingDiverged(msg)

    # ---------------------------------------------------------------- logging
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
        self.logger.info(f'[iter {it:>7d}/{self.opt.train.total_iter}] {ips:.2f} it/s eta {format_eta(eta)} | '
                         f'{lr_txt} | {loss_txt}')
        self.logger.scalars(losses, it, 'losses/')
        self.logger.scalars({f'lr_{k}': v for k, v in lrs.items()}, it, 'train/')
        self.logger.advance(0, {k: f'{v:.3e}' for k, v in losses.items()})


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
