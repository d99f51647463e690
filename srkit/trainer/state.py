"""A run's state on disk: the experiment folder, checkpoints, and resuming from them.

Checkpoints are atomic and the state file is written last, so any state on disk has its
network files.  A state holds the iteration, the data position, every rank's RNGs, the
model's optimizers, schedulers, grad scalers and extras, the best validation values, and the
options a resumed run must share (``setup``).  BasicSR's ``.state`` files resume too (networks,
optimizers, schedulers and the iteration).
"""
from __future__ import annotations

import glob
import os
import re
import shutil
import time
from typing import Callable, Optional

import torch

from .. import __version__
from ..engine.dist import DistContext
from ..engine.rng import get_rng_state, set_rng_state
from ..errors import UserError
from ..options import Options
from ..utils.checkpoint import check_compatible, load_checkpoint, save_checkpoint
from ..utils.fileio import check_free_space, folder_lock, remove_stale_temps
from ..utils.naming import name as field_name


def experiment_dir(opt: Options) -> str:
    root = opt.path.experiments_root or os.path.join('experiments')
    return os.path.join(root, opt.name)


def find_latest_state(exp_dir: str) -> Optional[str]:
    states = glob.glob(os.path.join(exp_dir, 'training_states', '*.state'))
    its = sorted((int(m.group(1)), p) for p in states
                 if (m := re.match(r'^(\d+)\.state$', os.path.basename(p))))
    return its[-1][1] if its else None


# ------------------------------------------------------------------ the folder
class ExperimentFolder:
    """``experiments/<name>``: one writer at a time (a lock), an earlier run of the name archived,
    and ``models/``, ``training_states/`` and ``visualization/`` in it."""

    def __init__(self, opt: Options, dist: DistContext):
        self.opt = opt
        self.dist = dist
        self.path = experiment_dir(opt)
        self._lock = None

    def lock(self) -> None:
        """One writer per experiment: a second srkit-train on the same name is refused."""
        if self.dist.is_main:
            self._lock = folder_lock(self.path, 'srkit-train')
            self._lock.__enter__()

    def release(self) -> None:
        """Let go of the lock (the end of fit, or a failed start)."""
        if self._lock is not None:
            self._lock.__exit__(None, None, None)
            self._lock = None

    def prepare(self, archive: bool) -> int:
        """Archive an earlier run of this name (``archive``: a new run), clear a killed run's
        temporaries and make the sub-folders; returns how many temporaries were removed."""
        stale = 0
        if self.dist.is_main:
            if archive and os.path.isdir(self.path):
                # never overwrite a previous run: archive it as BasicSR does
                shutil.move(self.path, f'{self.path}_archived_{time.strftime("%Y%m%d_%H%M%S")}')
            stale = remove_stale_temps(self.path) if os.path.isdir(self.path) else 0
            for sub in ('models', 'training_states', 'visualization'):
                os.makedirs(os.path.join(self.path, sub), exist_ok=True)
        self.dist.barrier()
        return stale

    def save(self, model, it: int, epoch: int, position: int, best: dict) -> None:
        """Every network file (and its ``_latest`` link), then the state file; drops states past
        ``logger.keep_checkpoints``.  ``epoch`` and ``position`` (samples into the epoch) are
        where the data resumes.  Collective: every rank calls it."""
        rngs = self.dist.gather_objects(get_rng_state())
        rank_model = self.dist.gather_objects(model.rank_state())
        if not self.dist.is_main:
            return
        opt = self.opt
        models_dir = os.path.join(self.path, 'models')
        fmt = opt.logger.save_format
        raw_params = {}
        files, model_state = model.network_files(it), model.state_dict()
        # the files' size is their tensors' (and the latest link costs nothing): check it all
        # fits before writing any of it, with a margin for pickling and the log
        needed = _tensor_bytes(files) + _tensor_bytes(model_state) * (1 + (fmt == 'safetensors'))
        check_free_space(self.path, int(needed * 1.1) + (1 << 20), f'the checkpoint of iteration {it}')
        for stem, content in files.items():
            path = os.path.join(models_dir, f'{stem}_{it}.{fmt}')
            save_checkpoint(content, path)
            _point_latest(path, os.path.join(models_dir, f'{stem}_latest.{fmt}'))
            if fmt == 'safetensors' and 'params_ema' in content:  # one flat dict per file: the EMA
                raw_params[stem[len('net_'):]] = content['params']
        state = {
            'iter': it,
            'epoch': epoch,
            'sampler': {'seed': opt.manual_seed, 'epoch': epoch, 'position': position},
            'best': best,
            'raw_params': raw_params,
            'model': model_state,
            'setup': setup_of(opt),
            'rng': rngs,
            'rank_model': rank_model,
            'srkit_version': __version__,
        }
        save_checkpoint(state, os.path.join(self.path, 'training_states', f'{it}.state'))
        keep = opt.logger.keep_checkpoints
        if keep > 0:
            states = sorted(glob.glob(os.path.join(self.path, 'training_states', '*.state')),
                            key=lambda p: int(os.path.basename(p).split('.')[0]))
            for old in states[:-keep]:
                os.unlink(old)


# --------------------------------------------------------------------- resume
def read_state(path: str, opt: Options) -> dict:
    """The training state at ``path``, refused in one line when it is not one or when the
    options it was trained with differ from ``opt`` where a resume cannot follow."""
    state = load_checkpoint(path)
    if not isinstance(state, dict) or not isinstance(state.get('iter'), int):
        raise UserError(f'{path}: not a training state (.state file with an iteration)')
    check_setup(opt, state.get('setup'), path)
    return state


def check_setup(opt: Options, saved, path: str) -> None:
    """One line naming the first option that changed since ``saved`` (a state's ``setup``)."""
    if not isinstance(saved, dict):
        return  # an older srkit's or BasicSR's state: the network files are checked key by key
    now = _flat(setup_of(opt))
    for key, was in _flat(saved).items():
        if key in now and now[key] != was:
            raise UserError(f'{key}: {was!r} in the run being resumed ({path}), {now[key]!r} now; resume '
                            'with the options the run started with, or start a new run without '
                            f'{field_name("auto_resume")}')


def setup_of(opt: Options) -> dict:
    """What a resumed run must share with this one: each network's constructor arguments and
    each optimizer's and the scheduler's type (learning rates may change on resume)."""
    nets = opt.model_class.network_names
    out = {f'network_{n}': getattr(opt, f'network_{n}').model_dump(mode='json') for n in nets
           if getattr(opt, f'network_{n}', None) is not None}
    out.update({f'train.optim_{n}.type': s.type for n, s in opt.train.optimizers.items()})
    if getattr(opt.train, 'scheduler', None) is not None:
        out['train.scheduler.type'] = opt.train.scheduler.type
    return out


def restore(model, state: dict, path: str, opt: Options, rank: int, log: Callable[[str], None]) -> dict:
    """Load ``state`` (read from ``path``) into ``model``: its network files beside it, the
    optimizers, schedulers and extras, and this rank's RNGs; returns the best validation values
    it kept (``{'valset/metric': (value, iteration)}``)."""
    it = int(state['iter'])
    model.load_network_files(_network_files(model, state, path, opt))
    if 'model' not in state:  # BasicSR's .state: optimizers and schedulers as lists, in build order
        model.load_state_dict(from_basicsr(model, state, path, opt))
        log(f'resumed from BasicSR\'s {path} at iteration {it}: networks, optimizers, schedulers '
            'and the iteration; BasicSR keeps no RNG or data position, so these start afresh')
        return {}
    try:
        model.load_state_dict(state['model'])
    except (KeyError, ValueError, RuntimeError, TypeError) as e:  # a state from other options
        detail = ' '.join(str(e).split())[:160]
        raise UserError(f'{path}: its optimizer/scheduler states do not fit these options ({detail}); resume '
                        'with the options the run started with, or start a new run without '
                        f'{field_name("auto_resume")}') from None
    best = {k: tuple(v) for k, v in state.get('best', {}).items()}
    rngs = state['rng']
    set_rng_state(rngs[rank] if rank < len(rngs) else rngs[0])
    ranks = state.get('rank_model', [])
    if ranks:
        model.load_rank_state(ranks[rank] if rank < len(ranks) else ranks[0])
    log(f'resumed from {path} at iteration {it}')
    return best


def _network_files(model, state: dict, path: str, opt: Options) -> dict:
    """``{'net_<name>': contents}``: the network files of the state's iteration beside ``path``,
    each checked against the network built from these options."""
    it = int(state['iter'])
    files = {}
    models = os.path.join(os.path.dirname(os.path.dirname(path)), 'models')
    raw = state.get('raw_params', {})  # safetensors files hold the EMA; the raw weights are here
    for name in model.nets:
        p = os.path.join(models, f'net_{name}_{it}.pth')
        if not os.path.exists(p):
            p = os.path.join(models, f'net_{name}_{it}.safetensors')
        if not os.path.exists(p):
            raise UserError(f'{path}: its network file models/net_{name}_{it}.pth (or .safetensors) is missing '
                            f'from {models} ({opt.model_type} has networks {", ".join(model.nets)})')
        f = load_checkpoint(p)
        if name in raw:
            f = {'params': raw[name], 'params_ema': f.get('params_ema', f.get('params'))}
        for key in ('params', 'params_ema'):  # a changed network option is one line, not a traceback
            if isinstance(f, dict) and isinstance(f.get(key), dict):
                check_compatible(model.nets[name], f[key], p)
        files[f'net_{name}'] = f
    return files


def from_basicsr(model, state: dict, path: str, opt: Options) -> dict:
    """BasicSR's ``{'optimizers': [...], 'schedulers': [...]}`` as ``model``'s state."""
    out = {'optimizers': {}, 'schedulers': {}, 'scalers': {}, 'extra': {}}
    for kind, own in (('optimizers', model.optimizers), ('schedulers', model.schedulers)):
        theirs = state.get(kind, [])
        if not isinstance(theirs, list) or len(theirs) != len(own):
            raise UserError(f'{path}: holds {len(theirs) if isinstance(theirs, list) else "no"} {kind[:-1]} '
                            f'state(s); {opt.model_type} here has {len(own)} ({", ".join(own) or "none"})')
        out[kind] = dict(zip(own, theirs))
    return out


# -------------------------------------------------------------------- helpers
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
