"""The model interface and the machinery every model family shares.

A model owns its networks, optimizers and losses and writes its training
step top to bottom in ``train_step``.  Everything else (devices, AMP, DDP,
channels_last, torch.compile, EMA, schedulers, checkpoint state) is done here
or by the :class:`~srkit.trainer.Trainer`, so each family's file only
says what is particular to it.
"""
from __future__ import annotations

import contextlib
import re
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

import torch
from torch import nn

from ..archs import build_network, trains_channels_last
from ..config import TrainOptions
from ..engine.context import EngineContext  # noqa: F401  (models are built with one)
from ..engine.ema import EMA
from ..engine.optim import build_optimizer
from ..engine.schedulers import build_scheduler
from ..errors import OptionError
from ..inference import describe, run_generator
from ..registry import LOSS_REGISTRY, LossSpec
from ..utils.checkpoint import load_network, network_meta

if TYPE_CHECKING:
    from ..options import Options


@dataclass
class LossTerm:
    """One loss of a family: its spec, where it came from (``train.pixel_opt``,
    ``train.losses[2]``), what it compares (``target``) and its log name.  What the
    loss is to the family comes from its class (see :mod:`srkit.losses`): its ``role``
    and the names of its ``outputs``.  The adversarial loss has no target."""

    where: str
    spec: LossSpec
    target: Optional[str]
    name: str

    @property
    def role(self) -> str:
        return loss_role(self.spec.type)

    @property
    def adversarial(self) -> bool:
        return self.role == 'adversarial'

    @property
    def log_names(self) -> tuple[str, ...]:
        """The names the loss's values log under: ``(name,)`` for a loss with one value; for
        one returning a tuple, ``name`` for the first and, for each other, ``name`` with the first
        output's name replaced by its own (or ``_<its name>`` added)."""
        outputs = tuple(getattr(LOSS_REGISTRY.get(self.spec.type), 'outputs', ()) or ())
        if len(outputs) < 2:
            return (self.name,)
        first, name = outputs[0], self.name
        return (name,) + tuple(name.replace(first, o) if first in name else f'{name}_{o}' for o in outputs[1:])


def loss_role(loss_type: str) -> str:
    """The ``role`` the registered loss ``loss_type`` declares (``'compare'`` when it declares none)."""
    return getattr(LOSS_REGISTRY.get(loss_type), 'role', 'compare')


class _NamedLosses:
    """A family's ``named_losses``, derived: the keys of its ``named_loss_targets``, then
    ``gan_opt`` when it ``needs_gan`` (a family may still set a tuple of its own)."""

    def __get__(self, obj, owner) -> tuple:
        keys = tuple(owner.named_loss_targets(None))
        return (keys + ('gan_opt',)) if owner.needs_gan else keys


_AMP = {'bf16': torch.bfloat16, 'fp16': torch.float16}


def _schedule_free(o) -> bool:
    # the schedulefree package's optimizers switch between two sets of weights: their train and eval methods
    return callable(getattr(o, 'eval', None)) and callable(getattr(o, 'train', None))


class BaseModel:
    """Subclasses build networks in ``__init__`` and implement ``train_step``.

    Networks are registered by name (``'g'``, ``'d'``, ``'g_a'`` ...): the
    name picks ``network_<name>``, ``optim_<name>``, ``pretrain_network_<name>``
    in the options and the file name ``net_<name>_<iter>.pth``.

    A family declares its options schema with class attributes: the networks and
    optimizers it reads, its BasicSR loss keys, its own top-level keys
    (``Options``), its ``train`` section, and (``loss_targets``) what its
    generator's output can be compared with.
    """

    network_names: tuple = ('g',)
    eval_network_names: tuple = ('g',)  # those built without a train section (to run, validate, export)
    optimizer_names: tuple = ('g',)
    # BasicSR's train.<key> loss keys the family reads (pixel_opt ...): named_loss_targets' keys, and
    # gan_opt when the family needs_gan
    named_losses = _NamedLosses()
    Options: Optional[type] = None  # a config.Schema of the family's own top-level keys
    sr_generator = False  # network_g upscales by the top-level scale (checked at parse time)
    TrainOptions: type = TrainOptions
    # a discriminator is trained: an adversarial loss (gan_opt, or one entry of train.losses) is required
    needs_gan = False

    # ---------------------------------------------------------------- losses
    @classmethod
    def loss_targets(cls, opt) -> dict[str, str]:
        """``{target: what it compares}`` for the generator's losses; empty: none."""
        return {}

    @classmethod
    def named_loss_targets(cls, opt) -> dict[str, tuple[str, str]]:
        """``{BasicSR key: (target, log name)}`` for the family's named loss keys (``gan_opt``
        aside).  Called with ``opt`` None for the keys alone (the schema's ``train`` section),
        so the keys must not depend on the options; the targets may."""
        return {}

    @classmethod
    def default_losses(cls, opt) -> list[dict]:
        """The losses used when ``train.losses`` is absent (from the family's own weights)."""
        return []

    @classmethod
    def check_options(cls, opt) -> None:
        """Checks across sections that only the family knows (run when the options are parsed)."""

    @classmethod
    def resolve_losses(cls, opt) -> list[LossTerm]:
        """Every loss term from the BasicSR keys, then ``train.losses`` (or the family's
        defaults), each with a target the family offers and a unique log name."""
        train, targets = opt.train, cls.loss_targets(opt)
        entries = []
        for key, (target, name) in cls.named_loss_targets(opt).items():
            spec = getattr(train, key, None)
            if spec is not None:
                entries.append((f'train.{key}', spec, target, name))
        if key_gan := getattr(train, 'gan_opt', None):
            entries.append(('train.gan_opt', key_gan, None, 'l_g_gan'))
        if train.losses is None:
            for i, d in enumerate(cls.default_losses(opt)):
                entries.append((f'train.losses (default {i})', LOSS_REGISTRY.parse(d, 'train.losses'), None, None))
        else:
            entries += [(f'train.losses[{i}]', spec, None, None) for i, spec in enumerate(train.losses)]
        terms, names = [], set()
        offered = ', '.join(targets) or 'none'
        for where, spec, target, name in entries:
            target = spec.target or target
            if spec.name is not None and spec.name in names:
                raise OptionError(f'{where}.name: {spec.name!r} names another loss too; each logs under its own name')
            name = spec.name or name
            weight = spec.kwargs().get('loss_weight')
            if isinstance(weight, (int, float)) and not 0 <= weight < float('inf'):
                raise OptionError(f'{where}.loss_weight: must be a finite number >= 0, got {weight} '
                                  '(a negative weight would maximise the loss)')
            if loss_role(spec.type) == 'adversarial':
                if spec.target is not None:
                    raise OptionError(f'{where}.target: the adversarial loss compares with no target; leave it out')
                first = next((t for t in terms if t.adversarial), None)
                if first is not None:
                    raise OptionError(f'{where}: a second adversarial loss ({first.where} is the first); '
                                      f'one adversarial loss per family')
                if not cls.needs_gan:
                    raise OptionError(f'{where}: model_type {opt.model_type} has no discriminator for a {spec.type}')
                name = name or 'l_g_gan'
            else:
                if not targets:
                    raise OptionError(f'{where}: model_type {opt.model_type} takes no {spec.type} '
                                      '(its generator has no target to compare with)')
                if target is None:
                    if len(targets) > 1 and cls.default_target is None:
                        raise OptionError(f'{where}.target: required (model_type {opt.model_type} offers '
                                          f'{offered})')
                    target = cls.default_target or next(iter(targets))
                if target not in targets:
                    raise OptionError(f'{where}.target: model_type {opt.model_type} offers no target {target!r} '
                                      f'(offered: {offered})')
                name = name or f'l_g_{spec.type.removesuffix("Loss").lower()}_{target}'
            base, k = name, 2
            while name in names:
                name, k = f'{base}_{k}', k + 1
            names.add(name)
            terms.append(LossTerm(where, spec, target, name))
        if cls.needs_gan and not any(t.adversarial for t in terms):
            kinds = ' or '.join(n for n in LOSS_REGISTRY.keys() if loss_role(n) == 'adversarial'
                                and not n.startswith('_')) or 'adversarial'
            raise OptionError(f'train.gan_opt: required by model_type {opt.model_type} '
                              f'(or a {kinds} entry in train.losses)')
        if targets and not cls.needs_gan and not terms:
            raise OptionError(f'train: model_type {opt.model_type} needs a loss '
                              f'({", ".join(cls.named_losses)} or train.losses)')
        ldl = next((t for t in terms if t.target == 'ldl'), None)
        if ldl is not None and not opt.train.ema_decay:
            raise OptionError(f"{ldl.where}: LDL's artifact map compares the output with the EMA generator's; "
                              'set train.ema_decay > 0 (LDL\'s recipe: 0.999)')
        return terms

    # where a loss names no target and the family offers several, the one it compares with (None: the
    # recipe must say)
    default_target: Optional[str] = None
    LDL_TARGET = ("the ground truth, output and ground truth both weighted by LDL's artifact map (which "
                  "compares the output with the EMA generator's: needs train.ema_decay > 0)")

    def ldl_pair(self, sr, batch):
        """LDL (BasicSR's ``ldl_opt``, traiNNer-redux's ``ldlloss``): the output and the plain GT,
        both times the artifact map of the output against the EMA generator's output on the same
        LQ."""
        from ..losses.ldl import artifact_map
        with torch.no_grad(), self.autocast():
            ema = self.emas['g'].module(batch['lq']).float()
        weight = artifact_map(batch['gt'], sr, ema, 7)
        return weight * sr, weight * batch['gt']

    def __init__(self, opt: Options, ctx: EngineContext):
        self.opt = opt
        self.ctx = ctx
        self.device = ctx.device
        self.train_opt = opt.train
        self.nets: dict[str, nn.Module] = {}  # plain modules (saved, EMA'd)
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.schedulers: dict[str, object] = {}
        self.scalers: dict[str, torch.amp.GradScaler] = {}
        self.emas: dict[str, EMA] = {}
        self.skipped_steps: dict[str, int] = {}  # train.nonfinite: skip_step, per optimizer
        self._ddp: list = []  # the DDP wrappers, for no_sync while gradients accumulate
        self.current_iter = 0  # set by the trainer before each train_step
        amp = opt.train.amp if opt.train else 'none'
        self.amp_dtype = _AMP.get(amp)
        layout = opt.train.channels_last if opt.train else False
        if layout is None:  # the networks' own preference: NCHW if any of them trains faster so
            layout = all(trains_channels_last(spec) for spec in opt.networks.values())
        self.channels_last = layout

    # ----------------------------------------------------------- construction
    def build_net(self, name: str, train: bool = True) -> nn.Module:
        """Build ``network_<name>``, load its pretrained weights, move it to the
        device, and return the module to call in ``train_step`` (DDP-wrapped
        and compiled where configured)."""
        cfg = self.opt.networks.get(name)
        if cfg is None:  # the options' check requires every network the family declares
            raise LookupError(f'network_{name}: {type(self).__name__} builds it without declaring it in '
                              'network_names (or eval_network_names, to build it without a train section)')
        net = build_network(cfg, f'network_{name}')
        n_params = sum(p.numel() for p in net.parameters())
        self.ctx.log(f'network_{name}: {describe(net.srkit_config, getattr(net, "scale", 1))}, '
                     f'{n_params / 1e6:.3f}M parameters')
        if getattr(net, 'caveat', None):
            self.ctx.log(f'network_{name}: {net.caveat}')
        pre = self.opt.path.pretrain.get(name)
        if pre is not None and pre.path:
            key = load_network(net, pre.path, pre.param_key, pre.strict, warn=self.ctx.log)
            self.ctx.log(f'loaded network_{name} from {pre.path} [{key}]')
        net = net.to(self.device)
        if self.channels_last:
            net = net.to(memory_format=torch.channels_last)
        self.nets[name] = net
        if not train:
            return net
        runner = net
        if self.ctx.dist.enabled and any(p.requires_grad for p in net.parameters()):
            from torch.nn.parallel import DistributedDataParallel as DDP
            if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules()):
                net_sync = nn.SyncBatchNorm.convert_sync_batchnorm(net) if self.device.type == 'cuda' else net
                runner = net_sync
            runner = DDP(runner, device_ids=[self.device.index] if self.device.type == 'cuda' else None,
                         find_unused_parameters=self.opt.find_unused_parameters)
            self._ddp.append(runner)
            if self.opt.use_static_graph:
                runner._set_static_graph()
        if self.train_opt and self.train_opt.compile:
            runner = torch.compile(runner)
        return runner

    def build_optimizer(self, name: str, params) -> torch.optim.Optimizer:
        cfg = self.train_opt.optimizers.get(name)
        if cfg is None:  # the options' check requires every optimizer the family declares
            raise LookupError(f'train.optim_{name}: {type(self).__name__} builds it without declaring it in '
                              'optimizer_names')
        params = [p for p in params if p.requires_grad]
        o = build_optimizer(params, cfg, f'train.optim_{name}')
        if _schedule_free(o):
            o.train()  # it steps from its training point
        self.optimizers[name] = o
        self.scalers[name] = torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype == torch.float16)
        if self.train_opt.scheduler is not None:
            self.schedulers[name] = build_scheduler(o, self.train_opt.scheduler)
        return o

    def build_losses(self) -> None:
        """The family's losses on the device: ``self.cri_gan`` (the adversarial one, or None)
        and ``self.g_losses``, ``[(log name, target, module)]`` for :meth:`generator_losses`.
        A perceptual loss whose weights are missing and that is ``optional`` is left out
        with a warning."""
        self.cri_gan, self.g_losses, self.loss_log_names = None, [], {}
        for term in self.opt.loss_terms:
            module = LOSS_REGISTRY.build(term.spec, term.where).to(self.device)
            if term.adversarial:
                self.cri_gan = module
                continue
            if hasattr(module, 'describe'):
                self.ctx.log(f'{term.where} ({term.name}): {module.describe()}')
            if not getattr(module, 'enabled', True):
                self.ctx.log(f'warning: {term.where}: {module.missing_message}')
                continue
            self.g_losses.append((term.name, term.target, module))
            self.loss_log_names[term.name] = term.log_names
        # a loss is required when the options are parsed; here only the weight files decide that
        # every one given is left out (optional: true, its weights missing)
        if not self.g_losses and self.loss_targets(self.opt) and not self.needs_gan:
            raise OptionError(f'train: model_type {self.opt.model_type} needs a loss '
                              f'({", ".join(self.named_losses)} or train.losses); each one given is left out '
                              'as its weights are missing')

    def loss_module(self, name: str) -> nn.Module:
        """The generator loss logged as ``name``."""
        return next(fn for n, _, fn in self.g_losses if n == name)

    def generator_losses(self, pairs: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Each configured loss on its target: ``pairs[target]`` is ``(output, reference)``
        or a callable giving them (called once, only when a loss uses that target).  A
        loss returning a tuple logs each value under the name its class's ``outputs`` give it
        (:attr:`LossTerm.log_names`: ``l_g_percep`` and ``l_g_style``); ``None`` values are left out."""
        made, out = {}, {}
        for name, target, fn in self.g_losses:
            if target not in made:
                pair = pairs[target]
                made[target] = pair() if callable(pair) else pair
            value = fn(*made[target])
            if isinstance(value, tuple):
                names = self.loss_log_names.get(name, (name,))
                if len(names) != len(value):
                    raise TypeError(f'{name}: the loss returned {len(value)} values, its class declares '
                                    f'{len(names)} outputs ({", ".join(names)})')
                out.update((n, v) for n, v in zip(names, value) if v is not None)
            elif value is not None:
                out[name] = value
        return out

    def build_ema(self, name: str) -> Optional[EMA]:
        decay = self.train_opt.ema_decay if self.train_opt else 0.0
        if decay > 0:
            t = self.train_opt
            self.emas[name] = EMA(self.nets[name], decay, t.ema_power, t.ema_update_after_step)
            return self.emas[name]
        return None

    # ------------------------------------------------------------- train step
    def autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    # Gradient accumulation: the trainer runs ``train_step`` on ``accum_iter`` batches per
    # iteration and sets ``micro = (k, accum_iter)``; gradients are zeroed before the first,
    # each loss is divided by accum_iter, and the optimizers step after the last.
    micro: tuple[int, int] = (0, 1)

    def accumulating(self):
        """Around a ``train_step`` that is not the last of its iteration: DDP keeps the
        gradients local (``no_sync``); the last batch's backward all-reduces their sum."""
        stack = contextlib.ExitStack()
        if self.micro[0] != self.micro[1] - 1:
            for ddp in self._ddp:
                stack.enter_context(ddp.no_sync())
        return stack

    def zero_grad(self, name: str) -> None:
        if self.micro[0] == 0:
            self.optimizers[name].zero_grad(set_to_none=True)

    def backward(self, name: str, loss: torch.Tensor) -> None:
        """Backward through ``loss`` (loss-scaled under fp16) for ``optim_<name>``."""
        n = self.micro[1]
        self.scalers[name].scale(loss / n if n > 1 else loss).backward()

    def apply(self, name: str) -> None:
        """Optimizer step for ``optim_<name>`` after the last accumulated batch: gradients
        unscaled, clipped to ``train.grad_clip`` (global L2 norm), inf steps skipped under fp16."""
        if self.micro[0] != self.micro[1] - 1:
            return
        opt, scaler = self.optimizers[name], self.scalers[name]
        if self.train_opt.nonfinite == 'skip_step' and not scaler.is_enabled() and not self._finite_grads(opt):
            # one host sync per step, the price of skip_step (fp16's GradScaler skips on its own)
            opt.zero_grad(set_to_none=True)
            self.skipped_steps[name] = self.skipped_steps.get(name, 0) + 1
            return
        clip = self.train_opt.grad_clip
        if clip is not None:
            scaler.unscale_(opt)
            params = [p for g in opt.param_groups for p in g['params'] if p.grad is not None]
            torch.nn.utils.clip_grad_norm_(params, clip)
        scaler.step(opt)
        scaler.update()

    @staticmethod
    def _finite_grads(opt: torch.optim.Optimizer) -> bool:
        grads = [p.grad for g in opt.param_groups for p in g['params'] if p.grad is not None]
        return not grads or bool(torch.isfinite(torch.stack(torch._foreach_norm(grads))).all())

    def nonfinite_weights(self) -> list[str]:
        """``['<net>.<param>']`` of every network tensor (EMA copies included) that holds a NaN
        or an infinity; one host sync."""
        nets = {**self.nets, **{f'{n}_ema': e.module for n, e in self.emas.items()}}
        named = [(f'{n}.{k}', v) for n, net in nets.items() for k, v in net.state_dict().items()
                 if v.is_floating_point()]
        if not named:
            return []
        ok = torch.stack([torch.isfinite(v).all() for _, v in named]).tolist()
        return [k for (k, _), good in zip(named, ok) if not good]

    def step(self, name: str, *losses: torch.Tensor) -> None:
        """zero_grad, backward each loss in turn (each frees its graph), then one step."""
        self.zero_grad(name)
        for loss in losses:
            self.backward(name, loss)
        self.apply(name)

    @staticmethod
    def requires_grad(net: nn.Module, flag: bool) -> None:
        for p in net.parameters():
            p.requires_grad_(flag)

    def prepare_batch(self, batch: dict) -> dict:
        """Move tensors to the device (and channels_last); models may extend it."""
        out = {}
        for k, v in batch.items():
            if isinstance(v, torch.Tensor):
                v = v.to(self.device, non_blocking=True)
                if self.channels_last and v.ndim == 4:
                    v = v.contiguous(memory_format=torch.channels_last)
            out[k] = v
        return out

    def train_step(self, batch: dict) -> dict[str, torch.Tensor]:
        """One iteration on a prepared batch; returns detached scalar losses."""
        raise NotImplementedError

    def after_step(self, it: int) -> None:
        for e in self.emas.values():
            e.update(it)

    def update_learning_rate(self, it: int) -> None:
        """Schedulers step every iteration; linear warmup over ``warmup_iter``."""
        # BasicSR's order: the lr of iteration i is schedule(i), so schedulers step
        # before the optimizer, which torch warns about on the first call
        with warnings.catch_warnings():
            warnings.filterwarnings('ignore', message=re.escape('Detected call of `lr_scheduler.step()`'))
            for s in self.schedulers.values():
                s.step()
        warm = self.train_opt.warmup_iter
        if warm > 0 and it < warm:
            for o in self.optimizers.values():
                for g in o.param_groups:
                    g['lr'] = g['initial_lr'] * it / warm

    def current_lr(self) -> dict[str, float]:
        return {n: o.param_groups[0]['lr'] for n, o in self.optimizers.items()}

    @contextlib.contextmanager
    def evaluation_weights(self):
        """Around validation and checkpoints: a schedule-free optimizer's networks hold the
        averaged weights it evaluates (``optimizer.eval()``), not the point it steps from, as
        traiNNer-redux switches them; back to training after.  Other optimizers: nothing."""
        free = [o for o in self.optimizers.values() if _schedule_free(o)]
        for o in free:
            o.eval()
        try:
            yield
        finally:
            for o in free:
                o.train()

    def training_weights(self) -> None:
        """After a resume: a schedule-free optimizer's state was saved with the evaluated
        weights; back to its training point."""
        for o in self.optimizers.values():
            if _schedule_free(o):
                o.train()

    def set_train(self, flag: bool) -> None:
        for n in self.nets.values():
            n.train(flag)

    # ---------------------------------------------------------------- testing
    def inference_net(self, name: str = 'g') -> nn.Module:
        return self.emas[name].module if name in self.emas else self.nets[name]

    @torch.no_grad()
    def test(self, lq: torch.Tensor) -> torch.Tensor:
        """``(B,3,h,w) RGB [0,1]`` -> output of the (EMA) generator, eval mode."""
        net = self.inference_net('g')
        was = net.training
        net.eval()
        val = self.opt.val
        try:  # as the tools run it: padded to the network's size multiple, in its value range; tiled when asked
            return run_generator(net, lq, val.tile, val.tile_overlap) if val is not None else run_generator(net, lq)
        finally:
            net.train(was)

    @torch.no_grad()
    def val_pair(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """One val batch (as the val dataset gives it, on the CPU) -> ``(output, reference)``,
        both ``(B,C,H,W)`` in [0,1] on the device: what validation scores (the output rounded
        to 8-bit levels first), saves and shows.  Here the :meth:`test` output of ``lq`` against
        ``gt`` (None for a set without one: only no-reference metrics score it); a family whose
        val batches hold other keys overrides it."""
        lq = batch['lq'].to(self.device)
        gt = batch['gt'].to(self.device) if 'gt' in batch else None  # a set of LQ images alone
        if self.channels_last:
            lq = lq.contiguous(memory_format=torch.channels_last)
        return self.test(lq), gt

    def snapshots(self) -> dict[str, torch.Tensor]:
        """Images to save at each validation, ``{name: (3,H,W) RGB [0,1]}`` (e.g. CGAN's
        fixed-noise grid); the trainer writes them to ``visualization/`` and TensorBoard."""
        return {}

    # ------------------------------------------------------------- checkpoint
    def network_files(self, it: int) -> dict[str, dict]:
        """``{file stem: contents}`` in BasicSR layout (params, params_ema) plus metadata."""
        files = {}
        for name, net in self.nets.items():
            d = {'params': net.state_dict()}
            if name in self.emas:
                d['params_ema'] = self.emas[name].state_dict()
            d['srkit'] = network_meta(net, self.opt.scale, it)
            files[f'net_{name}'] = d
        return files

    def load_network_files(self, files: dict[str, dict]) -> None:
        for name, net in self.nets.items():
            d = files[f'net_{name}']
            net.load_state_dict(d['params'])
            if name in self.emas:
                self.emas[name].load_state_dict(d.get('params_ema', d['params']))

    def state_dict(self) -> dict:
        """Optimizers, schedulers, grad scalers and model extras (e.g. image pools)."""
        return {
            'optimizers': {n: o.state_dict() for n, o in self.optimizers.items()},
            'schedulers': {n: s.state_dict() for n, s in self.schedulers.items()},
            'scalers': {n: s.state_dict() for n, s in self.scalers.items()},
            'extra': self.extra_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        for n, o in self.optimizers.items():
            o.load_state_dict(state['optimizers'][n])
        for n, s in self.schedulers.items():
            s.load_state_dict(state['schedulers'][n])
        for n, s in self.scalers.items():
            if n in state.get('scalers', {}):
                s.load_state_dict(state['scalers'][n])
        self.load_extra_state(state.get('extra', {}))

    def extra_state(self) -> dict:
        """Model state shared by all ranks (saved once, from rank 0)."""
        return {}

    def load_extra_state(self, state: dict) -> None:
        pass

    def rank_state(self) -> dict:
        """State each rank owns (e.g. its degradation generators and pair pool);
        gathered from every rank into the training state."""
        return {}

    def load_rank_state(self, state: dict) -> None:
        pass


class GANModel(BaseModel):
    """A family with a generator and a discriminator: ``network_g``/``network_d``,
    ``optim_g``/``optim_d`` and an adversarial loss (``gan_opt``, or an entry of
    ``train.losses`` whose loss declares ``role = 'adversarial'``)."""

    network_names = ('g', 'd')
    optimizer_names = ('g', 'd')
    needs_gan = True

    def build_gan(self) -> bool:
        """The usual pair: ``self.net_g``, and for training ``self.net_d`` with ``optim_g`` and
        ``optim_d``.  Returns whether the options train (else only G is built)."""
        self.net_g = self.build_net('g')
        if self.opt.train is None:
            return False
        self.net_d = self.build_net('d')
        self.build_optimizer('g', self.nets['g'].parameters())
        self.build_optimizer('d', self.nets['d'].parameters())
        return True
