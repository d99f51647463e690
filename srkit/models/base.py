"""The model interface and the machinery every model family shares.

A model owns its networks, optimizers and losses and writes its training
step top to bottom in ``train_step``.  Everything else (devices, AMP, DDP,
channels_last, torch.compile, EMA, schedulers, checkpoint state) is done here
or by the :class:`~srkit.engine.trainer.Trainer`, so each family's file only
says what is particular to it.
"""
from __future__ import annotations

import contextlib
import re
import warnings
from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from ..archs import build_network
from ..engine.dist import DistContext
from ..engine.ema import EMA
from ..engine.schedulers import build_scheduler
from ..errors import OptionError
from ..losses import build_loss
from ..options import Options
from ..utils.checkpoint import load_network, network_meta


@dataclass
class EngineContext:
    device: torch.device
    dist: DistContext
    log: callable = print


_AMP = {'bf16': torch.bfloat16, 'fp16': torch.float16}


class BaseModel:
    """Subclasses build networks in ``__init__`` and implement ``train_step``.

    Networks are registered by name (``'g'``, ``'d'``, ``'g_a'`` ...): the
    name picks ``network_<name>``, ``optim_<name>``, ``pretrain_network_<name>``
    in the options and the file name ``net_<name>_<iter>.pth``.
    """

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
        self.current_iter = 0  # set by the trainer before each train_step
        amp = opt.train.amp if opt.train else 'none'
        self.amp_dtype = _AMP.get(amp)
        self.channels_last = bool(opt.train and opt.train.channels_last)

    # ----------------------------------------------------------- construction
    def build_net(self, name: str, train: bool = True) -> nn.Module:
        """Build ``network_<name>``, load its pretrained weights, move it to the
        device, and return the module to call in ``train_step`` (DDP-wrapped
        and compiled where configured)."""
        cfg = self.opt.networks.get(name)
        if cfg is None:
            raise OptionError(f'network_{name}: required by model_type {self.opt.model_type}')
        net = build_network(cfg, f'network_{name}')
        pre = self.opt.path.pretrain.get(name)
        if pre is not None and pre.path:
            key = load_network(net, pre.path, pre.param_key, pre.strict)
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
            if self.opt.use_static_graph:
                runner._set_static_graph()
        if self.train_opt and self.train_opt.compile:
            runner = torch.compile(runner)
        return runner

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

    def build_optimizer(self, name: str, params) -> torch.optim.Optimizer:
        cfg = self.train_opt.optimizers.get(name)
        if cfg is None:
            raise OptionError(f'train.optim_{name}: required by model_type {self.opt.model_type}')
        params = [p for p in params if p.requires_grad]
        if cfg.type == 'Adam':
            o = torch.optim.Adam(params, lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay, eps=cfg.eps)
        elif cfg.type == 'AdamW':
            o = torch.optim.AdamW(params, lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay, eps=cfg.eps)
        else:
            o = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
        self.optimizers[name] = o
        self.scalers[name] = torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype == torch.float16)
        if self.train_opt.scheduler:
            self.schedulers[name] = build_scheduler(o, self.train_opt.scheduler)
        return o

    def build_loss(self, key: str, required: bool = True) -> Optional[nn.Module]:
        """The loss configured as ``train.<key>`` (e.g. ``pixel_opt``), on the device."""
        cfg = self.train_opt.losses.get(key)
        if cfg is None:
            if required:
                raise OptionError(f'train.{key}: required by model_type {self.opt.model_type}')
            return None
        return build_loss(cfg, f'train.{key}').to(self.device)

    def build_ema(self, name: str) -> Optional[EMA]:
        decay = self.train_opt.ema_decay if self.train_opt else 0.0
        if decay > 0:
            self.emas[name] = EMA(self.nets[name], decay)
            return self.emas[name]
        return None

    # ------------------------------------------------------------- train step
    def autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def zero_grad(self, name: str) -> None:
        self.optimizers[name].zero_grad(set_to_none=True)

    def backward(self, name: str, loss: torch.Tensor) -> None:
        """Backward through ``loss`` (loss-scaled under fp16) for ``optim_<name>``."""
        self.scalers[name].scale(loss).backward()

    def apply(self, name: str) -> None:
        """Optimizer step for ``optim_<name>`` (unscaling and skipping inf steps under fp16)."""
        self.scalers[name].step(self.optimizers[name])
        self.scalers[name].update()

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

    def targets(self, batch: dict):
        """``(pixel target, perceptual target, D's real images)``: the GT for all
        three, unless a family trains against something else (Real-ESRGAN's USM GT)."""
        return batch['gt'], batch['gt'], batch['gt']

    def train_step(self, batch: dict) -> dict[str, torch.Tensor]:
        """One iteration on a prepared batch; returns detached scalar losses."""
        raise NotImplementedError

    def after_step(self, it: int) -> None:
        for e in self.emas.values():
            e.update()

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
        out = net(lq)
        net.train(was)
        return out

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
