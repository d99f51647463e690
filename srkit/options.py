"""Experiment options: BasicSR's YAML schema, parsed once into typed objects.

``load_options(path, overrides)`` reads YAML with a safe loader, applies
``--force key.path=value`` overrides (values parsed as YAML scalars, never
evaluated), then validates everything into frozen-in-spirit dataclasses.  Any
problem raises :class:`OptionError` whose message starts with the key path.
"""
from __future__ import annotations

import dataclasses
import os
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional, Union

import yaml

from .errors import OptionError

# ---------------------------------------------------------------------------
# generic dataclass validation


def _describe(ann) -> str:
    origin = typing.get_origin(ann)
    if origin is Literal:
        return ' | '.join(repr(a) for a in typing.get_args(ann))
    if origin is Union:
        return ' or '.join(_describe(a) for a in typing.get_args(ann) if a is not type(None))
    return getattr(ann, '__name__', str(ann).replace('typing.', ''))


def _coerce(value, ann, path: str):
    """Check ``value`` against annotation ``ann``; return the (possibly converted) value."""
    origin = typing.get_origin(ann)
    args = typing.get_args(ann)
    if ann is Any:
        return value
    if origin is Union:
        if value is None and type(None) in args:
            return None
        real = [a for a in args if a is not type(None)]
        if len(real) == 1:  # Optional[X]: X's own, more precise error
            return _coerce(value, real[0], path)
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, path)
            except OptionError as e:
                errors.append(e)
        raise OptionError(f'{path}: expected {_describe(ann)}, got {type(value).__name__} {value!r}')
    if origin is Literal:
        if value not in args:
            raise OptionError(f'{path}: expected one of {_describe(ann)}, got {value!r}')
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise OptionError(f'{path}: expected a list, got {type(value).__name__} {value!r}')
        inner = args[0] if args else Any
        return [_coerce(v, inner, f'{path}[{i}]') for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise OptionError(f'{path}: expected a mapping, got {type(value).__name__} {value!r}')
        vt = args[1] if len(args) == 2 else Any
        return {k: _coerce(v, vt, f'{path}.{k}') for k, v in value.items()}
    if dataclasses.is_dataclass(ann):
        return parse_dataclass(ann, value, path)
    if ann is bool:
        if not isinstance(value, bool):
            raise OptionError(f'{path}: expected true/false, got {value!r}')
        return value
    if ann is int:
        # BasicSR recipes write integers as `!!float 5e3`; accept integral floats
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise OptionError(f'{path}: expected an integer, got {type(value).__name__} {value!r}')
        return value
    if ann is float:
        if isinstance(value, str):
            # YAML 1.1 reads `1e-4` (no dot) as a string; accept it as a number.
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise OptionError(f'{path}: expected a number, got {type(value).__name__} {value!r}')
        return float(value)
    if ann is str:
        if not isinstance(value, str):
            raise OptionError(f'{path}: expected a string, got {type(value).__name__} {value!r}')
        return value
    return value


def parse_dataclass(cls, data, path: str):
    """Build dataclass ``cls`` from a mapping, naming ``path.key`` in every error."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise OptionError(f'{path}: expected a mapping, got {type(data).__name__} {data!r}')
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    extra_ok = getattr(cls, '_extra_keys', None)  # callable(key) -> bool for pattern keys
    kwargs, extra = {}, {}
    for key, value in data.items():
        kpath = f'{path}.{key}' if path else str(key)
        if key in fields:
            kwargs[key] = _coerce(value, hints[key], kpath)
        elif extra_ok is not None and extra_ok(key):
            extra[key] = value
        else:
            known = ', '.join(sorted(fields))
            raise OptionError(f'{kpath}: unknown key (known: {known})')
    for name, f in fields.items():
        if name not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise OptionError(f'{path}.{name}: required key is missing' if path else f'{name}: required key is missing')
    obj = cls(**kwargs)
    if extra:
        obj.extra = extra
    post = getattr(obj, 'validate', None)
    if post:
        post(path)
    return obj


# ---------------------------------------------------------------------------
# the schema

@dataclass
class IOBackend:
    type: Literal['disk', 'lmdb'] = 'disk'


@dataclass
class DatasetOptions:
    """Keys every dataset accepts; dataset classes subclass this with their own."""

    name: str = 'dataset'
    type: str = ''
    phase: Literal['train', 'val', 'test'] = 'train'
    io_backend: IOBackend = field(default_factory=IOBackend)
    num_worker_per_gpu: int = 2
    batch_size_per_gpu: int = 1
    dataset_enlarge_ratio: int = 1
    # BasicSR's prefetch modes are accepted; srkit's loader always prefetches in
    # workers and, on CUDA, copies from pinned memory without blocking
    prefetch_mode: Optional[Literal['cpu', 'cuda']] = None
    pin_memory: bool = True
    use_shuffle: bool = True
    persistent_workers: bool = True
    scale: int = 1  # copied from the top-level `scale`

    def validate(self, path):
        if self.batch_size_per_gpu < 1:
            raise OptionError(f'{path}.batch_size_per_gpu: must be >= 1, got {self.batch_size_per_gpu}')
        if self.num_worker_per_gpu < 0:
            raise OptionError(f'{path}.num_worker_per_gpu: must be >= 0')
        if self.dataset_enlarge_ratio < 1:
            raise OptionError(f'{path}.dataset_enlarge_ratio: must be >= 1')


def check_path(value: Optional[str], path: str, required: bool = True) -> Optional[str]:
    if value is None:
        if required:
            raise OptionError(f'{path}: required key is missing')
        return None
    p = os.path.expanduser(value)
    if not os.path.exists(p):
        raise OptionError(f'{path}: no such file or directory: {value}')
    return p


@dataclass
class OptimOptions:
    type: Literal['Adam', 'AdamW', 'SGD'] = 'Adam'
    lr: float = 1e-4
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.99])
    momentum: float = 0.0
    eps: float = 1e-8

    def validate(self, path):
        if self.lr < 0:
            raise OptionError(f'{path}.lr: must be >= 0, got {self.lr}')
        if len(self.betas) != 2:
            raise OptionError(f'{path}.betas: expected two numbers, got {self.betas}')


@dataclass
class TrainOptions:
    total_iter: int
    ema_decay: float = 0.0
    warmup_iter: int = -1
    scheduler: Optional[dict[str, Any]] = None
    # precision and layout: fp32 + channels_last measured fastest on CPU
    # (scripts/bench/train_step.py, docs/benchmarks.md); bf16/fp16 are for GPUs
    amp: Literal['none', 'bf16', 'fp16'] = 'none'
    channels_last: bool = True
    compile: bool = False
    # GAN schedule knobs shared by the GAN families (ignored by G-only models)
    net_d_iters: int = 1
    net_d_init_iters: int = 0
    optimizers: dict[str, OptimOptions] = field(default_factory=dict, init=False)  # from optim_<net>
    losses: dict[str, dict] = field(default_factory=dict, init=False)  # from <name>_opt

    # `optim_<net>` and `<name>_opt` keys are collected, the rest must be known
    @staticmethod
    def _extra_keys(key: str) -> bool:
        return key.startswith('optim_') or key.endswith('_opt')

    def validate(self, path):
        extra = getattr(self, 'extra', {})
        for key, value in extra.items():
            if key.startswith('optim_'):
                self.optimizers[key[len('optim_'):]] = parse_dataclass(OptimOptions, value, f'{path}.{key}')
            elif value is not None:
                if not isinstance(value, dict) or 'type' not in value:
                    raise OptionError(f'{path}.{key}.type: missing (a loss needs a type)')
                self.losses[key] = dict(value)
        if self.total_iter < 1:
            raise OptionError(f'{path}.total_iter: must be >= 1, got {self.total_iter}')
        if not 0.0 <= self.ema_decay < 1.0:
            raise OptionError(f'{path}.ema_decay: must be in [0, 1), got {self.ema_decay}')
        if self.scheduler is not None and 'type' not in self.scheduler:
            raise OptionError(f'{path}.scheduler.type: missing')


@dataclass
class MetricOptions:
    type: Literal['calculate_psnr', 'calculate_ssim', 'psnr', 'ssim']
    crop_border: int = 0
    test_y_channel: bool = True
    better: Literal['higher', 'lower'] = 'higher'

    @property
    def kind(self) -> str:
        return self.type.replace('calculate_', '')


@dataclass
class ValOptions:
    val_freq: int = 5000
    save_img: bool = False
    suffix: Optional[str] = None
    pbar: bool = False
    max_tb_images: int = 4
    metrics: dict[str, MetricOptions] = field(default_factory=dict)


@dataclass
class WandbOptions:
    project: Optional[str] = None
    resume_id: Optional[str] = None


@dataclass
class LoggerOptions:
    print_freq: int = 100
    save_checkpoint_freq: int = 5000
    use_tb_logger: bool = True
    keep_checkpoints: int = 0  # 0 keeps all; N keeps the newest N training states
    wandb: WandbOptions = field(default_factory=WandbOptions)

    def validate(self, path):
        if self.print_freq < 1 or self.save_checkpoint_freq < 1:
            raise OptionError(f'{path}: print_freq and save_checkpoint_freq must be >= 1')
        if self.wandb.project:
            raise OptionError(f'{path}.wandb.project: wandb is not supported; use TensorBoard (use_tb_logger)')


_PATH_RE = re.compile(r'^(pretrain_network|param_key|strict_load)_(\w+)$')


@dataclass
class PretrainOptions:
    path: Optional[str] = None
    param_key: str = 'params'
    strict: bool = True


@dataclass
class PathOptions:
    experiments_root: Optional[str] = None
    resume_state: Optional[str] = None
    pretrain: dict[str, PretrainOptions] = field(default_factory=dict, init=False)
    # BasicSR writes these; srkit derives them from experiments_root
    models: Optional[str] = None
    training_states: Optional[str] = None
    log: Optional[str] = None
    visualization: Optional[str] = None

    @staticmethod
    def _extra_keys(key: str) -> bool:
        return bool(_PATH_RE.match(key))

    def validate(self, path):
        for key, value in getattr(self, 'extra', {}).items():
            what, net = _PATH_RE.match(key).groups()
            p = self.pretrain.setdefault(net, PretrainOptions())
            kpath = f'{path}.{key}'
            if what == 'pretrain_network':
                p.path = check_path(_coerce(value, Optional[str], kpath), kpath, required=False)
            elif what == 'param_key':
                p.param_key = _coerce(value, str, kpath)
            else:
                p.strict = _coerce(value, bool, kpath)
        if self.resume_state is not None:
            check_path(self.resume_state, f'{path}.resume_state')


@dataclass
class DistOptions:
    backend: Optional[str] = None
    port: int = 29500


@dataclass
class Options:
    name: str
    model_type: str
    scale: int = 1
    num_gpu: Union[int, Literal['auto']] = 'auto'
    manual_seed: int = 0
    is_train: bool = True
    dist: bool = False
    find_unused_parameters: bool = False
    use_static_graph: bool = False
    datasets: dict[str, Any] = field(default_factory=dict)
    network_g: Optional[dict[str, Any]] = None
    network_d: Optional[dict[str, Any]] = None
    networks: dict[str, dict] = field(default_factory=dict, init=False)  # from network_<name>
    path: PathOptions = field(default_factory=PathOptions)
    train: Optional[TrainOptions] = None
    val: Optional[ValOptions] = None
    logger: LoggerOptions = field(default_factory=LoggerOptions)
    dist_params: DistOptions = field(default_factory=DistOptions)
    device: Optional[str] = None  # 'cpu', 'cuda', 'cuda:1'; default: cuda if available
    # top-level keys a model family adds (Real-ESRGAN's degradation settings and the
    # like), parsed by that model class's own `Options` dataclass
    model: Any = field(default=None, init=False)

    @staticmethod
    def _extra_keys(key: str) -> bool:
        return True  # network_<name>, or a key of the model's own options (checked in validate)

    def validate(self, path):
        if self.scale < 1:
            raise OptionError(f'scale: must be >= 1, got {self.scale}')
        nets, model_keys = {}, {}
        for key in ('network_g', 'network_d'):
            if getattr(self, key) is not None:
                nets[key[len('network_'):]] = getattr(self, key)
        for key, value in getattr(self, 'extra', {}).items():
            if str(key).startswith('network_'):
                nets[key[len('network_'):]] = value
            else:
                model_keys[key] = value
        self._parse_model_options(model_keys)
        for net, cfg in nets.items():
            if not isinstance(cfg, dict) or 'type' not in cfg:
                raise OptionError(f'network_{net}.type: missing')
        self.networks = nets
        self._parse_datasets()

    def _parse_model_options(self, keys: dict) -> None:
        from .registry import MODEL_REGISTRY
        from . import models  # noqa: F401  (registers the model types)

        cls = MODEL_REGISTRY.get(self.model_type, 'model_type')
        mopt = getattr(cls, 'Options', None)
        if mopt is None:
            if keys:
                own = sorted(f.name for f in dataclasses.fields(self) if f.init) + ['network_<name>']
                raise OptionError(f'{next(iter(keys))}: unknown key (known: {", ".join(own)})')
            return
        try:
            self.model = parse_dataclass(mopt, keys, '')
        except OptionError as e:
            if ': unknown key' not in str(e):
                raise
            own = {f.name for f in dataclasses.fields(self) if f.init} | {f.name for f in dataclasses.fields(mopt)}
            raise OptionError(f'{str(e).split(":")[0]}: unknown key (known: {", ".join(sorted(own))}, '
                              'network_<name>)') from None

    def _parse_datasets(self):
        from .registry import DATASET_REGISTRY
        from . import data  # noqa: F401  (registers the dataset types)

        parsed = {}
        for key, cfg in self.datasets.items():
            where = f'datasets.{key}'
            if not isinstance(cfg, dict):
                raise OptionError(f'{where}: expected a mapping')
            if 'type' not in cfg:
                raise OptionError(f'{where}.type: missing')
            cls = DATASET_REGISTRY.get(cfg['type'], f'{where}.type')
            cfg = dict(cfg)
            if 'scale' in cfg and cfg['scale'] != self.scale:
                raise OptionError(f'{where}.scale: {cfg["scale"]} differs from the top-level scale {self.scale}')
            cfg['scale'] = self.scale
            cfg.setdefault('phase', 'train' if key == 'train' else 'val')
            parsed[key] = parse_dataclass(cls.Options, cfg, where)
        self.datasets = parsed

    @property
    def val_datasets(self) -> dict:
        return {k: v for k, v in self.datasets.items() if k.startswith('val') or k.startswith('test')}


# ---------------------------------------------------------------------------
# loading


class _SafeLoader(yaml.SafeLoader):
    pass


def read_yaml(path: str) -> dict:
    p = Path(path)
    if not p.is_file():
        raise OptionError(f'{path}: no such options file')
    try:
        data = yaml.load(p.read_text(), Loader=_SafeLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.constructor.ConstructorError as e:
        tag = getattr(e, 'problem', '') or str(e)
        raise OptionError(f'{path}: refused YAML tag ({" ".join(tag.split())}); options files may hold plain data only') from None
    except yaml.YAMLError as e:
        mark = getattr(e, 'problem_mark', None)
        where = f' line {mark.line + 1}' if mark else ''
        raise OptionError(f'{path}:{where}: invalid YAML ({getattr(e, "problem", e)})') from None
    if not isinstance(data, dict):
        raise OptionError(f'{path}: expected a mapping at the top level')
    return data


def apply_override(data: dict, assignment: str) -> None:
    """Apply ``a.b.c=value`` to ``data``; the value is a YAML scalar/list, never code."""
    if '=' not in assignment:
        raise OptionError(f'--force {assignment}: expected key.path=value')
    key, raw = assignment.split('=', 1)
    try:
        value = yaml.safe_load(raw) if raw != '' else None
    except yaml.YAMLError:
        raise OptionError(f'--force {key}: cannot parse value {raw!r}') from None
    parts = key.strip().split('.')
    node = data
    for i, part in enumerate(parts[:-1]):
        nxt = node.get(part)
        if nxt is None:
            nxt = node[part] = {}
        if not isinstance(nxt, dict):
            raise OptionError(f'--force {key}: {".".join(parts[:i + 1])} is not a mapping')
        node = nxt
    node[parts[-1]] = value


def parse_options(data: dict) -> Options:
    return parse_dataclass(Options, data, '')


def load_options(path: str, overrides: list[str] = ()) -> Options:
    data = read_yaml(path)
    for ov in overrides or ():
        apply_override(data, ov)
    return parse_options(data)
