"""Experiment options: BasicSR's YAML schema, parsed once into typed objects.

``load_options(path, overrides)`` reads YAML with a safe loader, applies
``--force key.path=value`` overrides (values parsed as YAML scalars, never
evaluated), then validates the whole file with one schema.  The schema is
assembled here from what the packages below register: ``model_type`` picks the
family, and the family says which networks (``network_<net>``), optimizers
(``train.optim_<net>``), BasicSR loss keys (``train.pixel_opt`` ...) and
top-level keys it reads; each ``type`` picks an architecture, loss, optimizer,
scheduler or dataset whose parameters are its keys.  Every section refuses
unknown keys.  Any problem raises :class:`OptionError` naming the key path.

``json_schema()`` is the same schema for editors (``srkit-train --print-schema``).
"""
from __future__ import annotations

import functools
import json
import types
import typing
from pathlib import Path
from typing import Any, Literal, Optional, Union

import yaml
from pydantic import Field, PrivateAttr, TypeAdapter, create_model

from .. import data as _data  # noqa: F401  (registers the dataset types)
from .. import models as _models  # noqa: F401  (registers the model types and, below them, the rest)
from ..config import (Bool, DatasetOptions, DistOptions, Int, IntIn, LoggerOptions, PathOptions, Schema, Str,
                     ValOptions, check_name, tagged_union, validate)
from ..engine import optim as _optim  # noqa: F401  (registers the optimizers)
from ..errors import OptionError
from ..utils.device import check_device
from ..registry import (ARCH_REGISTRY, DATASET_REGISTRY, LOSS_REGISTRY, MODEL_REGISTRY, OPTIMIZER_REGISTRY,
                       SCHEDULER_REGISTRY)
from ..utils.naming import name as field_name
from . import redux


class RootOptions(Schema):
    """The top-level keys every family shares.

    Attributes:
        name: the experiment's name: its folder under ``path.experiments_root`` and its TensorBoard
            run; a relative name without ``..``.
        model_type: the model family (``SRModel``, ``ESRGANModel``, ``RealESRGANModel`` ...); it
            decides which networks, losses and keys the file may hold.
        scale: the upscaling factor, 1 to 16 (default 1); copied into every dataset, and
            ``network_g`` of an SR family must upscale by it.
        num_gpu: GPUs to use: ``auto`` (default; one per process when CUDA is available) or a
            count; 0 trains on the CPU.
        manual_seed: the seed of every random stream (weights, sampling, augmentation,
            degradations), in [0, 2**32) (default 0).
        find_unused_parameters: DistributedDataParallel's option for networks with parameters a
            step does not use (default false).
        use_static_graph: DistributedDataParallel's static-graph mode (default false).
        device: ``cpu``, ``cuda`` or ``cuda:N``; default: the GPU of this process when CUDA is
            available, else the CPU.
        val: validation: its frequency, metrics and saved images; default: no validation.
        logger: logging and checkpoint frequency and format.
        dist_params: distributed training's backend and port.
        datasets: ``{key: dataset}``: ``train`` is the training set; keys that start with ``val``
            or ``test`` are validated.
        path: where the experiment folder goes, a state to resume and pretrained weights.
        train: the training keys: iterations, optimizers, losses, schedule, precision; required
            by srkit-train, optional for the tools that only read the networks.
        network_<net>: the architecture of network ``<net>``: ``{type: RRDBNet, num_feat: 64, ...}``,
            an architecture registered in ``srkit.archs`` and its constructor's keys.
    """

    name: Str
    model_type: Str
    scale: IntIn(1, 16) = 1
    num_gpu: Union[Int, Literal['auto']] = 'auto'
    manual_seed: Int = 0
    find_unused_parameters: Bool = False
    use_static_graph: Bool = False
    device: Optional[Str] = None  # 'cpu', 'cuda', 'cuda:1'; default: cuda if available
    val: Optional[ValOptions] = None
    logger: LoggerOptions = Field(default_factory=LoggerOptions)
    dist_params: DistOptions = Field(default_factory=DistOptions)

    model_class: typing.ClassVar[type] = None
    # what reading another project's recipe changed (traiNNer-redux's: options.redux), for the log
    _notes: list = PrivateAttr(default_factory=list)

    @property
    def notes(self) -> list[str]:
        """One line per key of a traiNNer-redux recipe whose effect here differs from its own."""
        return self._notes

    def check(self, path):
        super().check(path)  # the family's own keys (its Options' checks come next in the MRO)
        check_name(self.name, 'name')
        if self.scale < 1:
            raise OptionError(f'scale: must be >= 1, got {self.scale}')
        if not 0 <= self.manual_seed < 2 ** 32:
            raise OptionError(f'manual_seed: must be in [0, 2**32), got {self.manual_seed}')
        if self.device is not None:
            check_device(self.device, 'device')
        cls = self.model_class
        for net in cls.network_names if self.train is not None else cls.eval_network_names:
            if getattr(self, f'network_{net}') is None:
                raise OptionError(f'network_{net}: required by model_type {self.model_type}')
        for net in cls.optimizer_names if self.train is not None else ():
            if getattr(self.train, f'optim_{net}') is None:
                raise OptionError(f'train.optim_{net}: required by model_type {self.model_type}')
        _check_networks(self)
        _check_val_references(self)
        cls.check_options(self)
        if self.train is not None:
            self.loss_terms  # noqa: B018  (resolved now, so that a loss's problem is found at parse time)
            _check_optimizers(self.train)

    _loss_terms: Optional[list] = PrivateAttr(default=None)

    @property
    def loss_terms(self) -> list:
        """``[LossTerm]``: every loss the family computes, each with its target and log name
        (the family's ``resolve_losses``, once; empty without a ``train`` section)."""
        if self._loss_terms is None:
            self._loss_terms = [] if self.train is None else self.model_class.resolve_losses(self)
        return self._loss_terms

    @property
    def model(self):
        """The family's own top-level keys (``gt_size``, ``lambda_l1`` ...) live on the options."""
        return self

    @property
    def networks(self) -> dict:
        """``{net: arch spec}`` for each ``network_<net>`` given."""
        return {k[len('network_'):]: v for k, v in self if k.startswith('network_') and v is not None}

    @property
    def val_datasets(self) -> dict:
        return {k: v for k, v in self.datasets.items() if k.startswith('val') or k.startswith('test')}


def _check_optimizers(train) -> None:
    """torch's own checks of each optimizer's and the scheduler's values (Adam's betas in
    [0, 1), a scheduler's lengths), at parse time: built once over a stand-in parameter."""
    import torch
    from ..engine.optim import build_optimizer
    from ..engine.schedulers import build_scheduler
    for net, spec in train.optimizers.items():
        o = build_optimizer([torch.zeros(1, requires_grad=True)], spec, f'train.optim_{net}')
        if train.scheduler is not None:
            try:
                build_scheduler(o, train.scheduler)
            except (ValueError, TypeError, ZeroDivisionError, IndexError) as e:
                raise OptionError(f'train.scheduler: {e}') from None


def _pretrain_fields(nets) -> dict:
    fields = {}
    for n in nets:
        fields[f'pretrain_network_{n}'] = (Optional[Str], None)
        fields[f'param_key_{n}'] = (Str, 'params')
        fields[f'strict_load_{n}'] = (Bool, True)
    return fields


def _family_options(name: str, cls, public: bool) -> type:
    """The whole schema of one ``model_type``."""
    loss, optim = LOSS_REGISTRY.union(public), OPTIMIZER_REGISTRY.union(public)
    train_fields: dict[str, Any] = {f'optim_{n}': (Optional[optim], None) for n in cls.optimizer_names}
    train_fields.update({k: (Optional[loss], None) for k in cls.named_losses})
    train_fields['losses'] = (Optional[list[loss]], None)
    train_fields['scheduler'] = (Optional[SCHEDULER_REGISTRY.union(public)], None)
    train = create_model(f'{name}Train', __base__=cls.TrainOptions, **train_fields)
    path = create_model(f'{name}Path', __base__=PathOptions, **_pretrain_fields(cls.network_names))
    fields: dict[str, Any] = {
        'model_type': (Literal[name], ...),
        'datasets': (dict[str, DATASET_REGISTRY.union(public)], Field(default_factory=dict)),
        'path': (path, Field(default_factory=path)),
        'train': (Optional[train], None),
    }
    fields.update({f'network_{n}': (Optional[ARCH_REGISTRY.union(public)], None) for n in cls.network_names})
    bases = (RootOptions,) + ((cls.Options,) if getattr(cls, 'Options', None) else ())
    model = create_model(f'{name}Options', __base__=bases, __doc__=(cls.__doc__ or '').split('\n\n')[0], **fields)
    model.model_class = cls
    return model


_REGISTRIES = (ARCH_REGISTRY, DATASET_REGISTRY, LOSS_REGISTRY, MODEL_REGISTRY, OPTIMIZER_REGISTRY, SCHEDULER_REGISTRY)


@functools.lru_cache(maxsize=4)
def _schema(contents: tuple, public: bool) -> TypeAdapter:
    families = {n: _family_options(n, MODEL_REGISTRY.get(n), public) for n in MODEL_REGISTRY.keys()
                if not (public and n.startswith('_'))}
    return TypeAdapter(tagged_union(families, 'model', key='model_type'))


def schema(public: bool = False) -> TypeAdapter:
    """One adapter for every ``model_type``'s options (rebuilt when something new registers);
    ``public`` leaves out what tests register (names starting with an underscore)."""
    return _schema(tuple(tuple(r.keys()) for r in _REGISTRIES), public)


def json_schema() -> dict:
    """The options schema as JSON Schema (draft 2020-12), for editors' YAML validation."""
    out = schema(public=True).json_schema(mode='validation')
    out['$schema'] = 'https://json-schema.org/draft/2020-12/schema'
    out['title'] = 'srkit training options'
    return out


Options = RootOptions  # what a parsed file is (a family's subclass of it)


# ---------------------------------------------------------------------------
# loading


class _DuplicateKey(yaml.YAMLError):
    def __init__(self, key, first: int, again: int):
        super().__init__(f'{key}: given twice in one mapping (lines {first} and {again}); keep one')
        self.key = key


class _SafeLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader, refusing a key given twice in one mapping: PyYAML keeps the last one
    without a word, so a recipe with two ``total_iter`` lines would train with the one not meant.
    Keys a merge (``<<: *base``) brings in may be set again: that is what merging is for."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == 'tag:yaml.org,2002:merge' or not isinstance(key_node, yaml.ScalarNode):
                    continue
                key = self.construct_scalar(key_node)
                line = key_node.start_mark.line + 1
                if key in seen:
                    raise _DuplicateKey(key, seen[key], line)
                seen[key] = line
        return super().construct_mapping(node, deep)


def _check_val_references(opt) -> None:
    """A val set without a ground truth (SingleImageDataset) has its outputs saved and only
    no-reference metrics (NIQE) scored: a PSNR, SSIM or LPIPS on it is refused here."""
    if opt.val is None:
        return
    for key, ds in opt.val_datasets.items():
        if getattr(DATASET_REGISTRY.get(ds.type), 'has_gt', True):
            continue
        full = [m for m, spec in opt.val.metrics.items() if spec.kind != 'niqe']
        if full:
            raise OptionError(f'val.metrics.{full[0]}: compares with a ground truth, and datasets.{key} '
                              f'({ds.type}) has none; score it with niqe, or leave metrics out')


def _check_networks(opt) -> None:
    """Every ``network_<net>`` built on the meta device (no memory, no init cost), so that a
    constructor's refusal or a network too large is one line at parse time; ``network_g`` of an SR
    family must upscale by the top-level ``scale`` (BasicSR's recipes set both), else the first
    batch would end in a size-mismatch traceback."""
    for net, spec in opt.networks.items():
        built = _probe_network(json.dumps(spec.as_config(), sort_keys=True, default=repr), f'network_{net}')
        s = getattr(built, 'scale', None)
        if net == 'g' and opt.model_class.sr_generator and isinstance(s, int) and s != opt.scale:
            raise OptionError(f'network_g: a x{s} network (its upscale/scale key), but scale is {opt.scale}; '
                              'make the two agree')
        if net == 'g' and opt.model_class.sr_generator and opt.train is not None:
            _check_crops(opt, built)
        if net == 'g' and opt.model_class.sr_generator:
            _check_channels(opt, built)


@functools.lru_cache(maxsize=32)
def _probe_network(config: str, where: str) -> types.SimpleNamespace:
    """What the checks read of ``network_<net>`` (its scale, input sizes and config), from a build
    on the meta device, once per configuration (JSON): recipes that share a network (a family's
    fidelity, GAN and OTF recipes; a tool reading the options again) need not build it again, and
    nothing of the build is kept (its small tensors are real: 170 MiB for DRCT-XL)."""
    import torch
    from ..archs import build_network
    with torch.device('meta'):
        net = build_network(json.loads(config), where)
    return types.SimpleNamespace(scale=getattr(net, 'scale', None), min_size=getattr(net, 'min_size', 0),
                                 size_multiple=getattr(net, 'size_multiple', 1), srkit_config=net.srkit_config)


def _check_channels(opt, net) -> None:
    """Datasets of luma (``color: y``) need a network of 1 input and output channel, RGB ones 3 (or
    4, read from RGBA)."""
    from ..inference import image_channels
    cin, cout = image_channels(net, 'network_g')
    for key, ds in opt.datasets.items():
        gray = getattr(ds, 'color', None) == 'y'
        if gray and (cin, cout) != (1, 1):
            raise OptionError(f'datasets.{key}.color: y gives 1-channel images, but network_g reads {cin} and '
                              f'writes {cout} channels; set its num_in_ch and num_out_ch to 1')
        if not gray and cin == 1 and key == 'train':
            raise OptionError(f'network_g: reads 1 channel, but datasets.{key} gives RGB; set its color: y')


def _check_crops(opt, net) -> None:
    """The LQ training crops fit the generator: at least its minimum size and a multiple of its
    size multiple (a window transformer's, DAT's 16, SAFMN's 8), else training would stop at the
    first batch, or the network would pad every crop."""
    least, mult = int(getattr(net, 'min_size', 0) or 0), int(getattr(net, 'size_multiple', 1) or 1)
    crops = [('datasets.train.gt_size', getattr(opt.datasets.get('train'), 'gt_size', None)),
             ('gt_size', getattr(opt, 'gt_size', None))]  # Real-ESRGAN's families crop after degrading
    for key, gt in crops:
        if not isinstance(gt, int):
            continue
        lq = gt // opt.scale
        if lq < least or lq % mult:
            need = ', '.join(p for p in (f'at least {least}' if least > 1 else '',
                                         f'a multiple of {mult}' if mult > 1 else '') if p)
            raise OptionError(f'{key}: {gt} gives {lq}-pixel LQ crops, but {net.srkit_config["type"]} takes {need}; '
                              f'use a gt_size of {opt.scale * (-(-max(least, lq) // mult) * mult)} or more')


def read_yaml(path: str) -> dict:
    p = Path(path)
    if not p.is_file():
        raise OptionError(f'{path}: ' + ('not a regular file (a folder, device or FIFO); give an options file'
                                         if p.exists() else 'no such options file'))
    size = p.stat().st_size
    if size > MAX_OPTIONS_BYTES:  # checked before reading: a huge file is never read whole
        raise OptionError(f'{path}: {size} bytes; an options file is at most {MAX_OPTIONS_BYTES} bytes')
    with p.open('rb') as f:
        raw = f.read(MAX_OPTIONS_BYTES + 1)
    if len(raw) > MAX_OPTIONS_BYTES:
        raise OptionError(f'{path}: more than {MAX_OPTIONS_BYTES} bytes; an options file is at most that')
    try:
        text = raw.decode('utf-8-sig')
    except UnicodeDecodeError as e:
        raise OptionError(f'{path}: not UTF-8 text (byte {e.start}: {raw[e.start:e.start + 1]!r}); '
                          'save the options file as UTF-8') from None
    try:
        data = yaml.load(text, Loader=_SafeLoader)  # noqa: S506 - SafeLoader subclass
    except RecursionError:
        raise OptionError(f'{path}: nested too deeply to be an options file') from None
    except _DuplicateKey as e:
        raise OptionError(f'{path}: {e}') from None
    except yaml.constructor.ConstructorError as e:
        tag = getattr(e, 'problem', '') or str(e)
        raise OptionError(f'{path}: refused YAML tag ({" ".join(tag.split())}); '
                          'options files may hold plain data only') from None
    except yaml.YAMLError as e:
        mark = getattr(e, 'problem_mark', None)
        where = f' line {mark.line + 1}' if mark else ''
        raise OptionError(f'{path}:{where}: invalid YAML ({getattr(e, "problem", e)})') from None
    if not isinstance(data, dict):
        raise OptionError(f'{path}: expected a mapping at the top level')
    _check_size(data, path)
    return data


MAX_OPTIONS_BYTES = 1 << 20
MAX_OPTION_VALUES = 100_000  # BasicSR's largest recipes hold a few hundred
MAX_OPTION_DEPTH = 32


def _check_size(data, path: str) -> None:
    """Refuse a YAML graph whose anchors expand past :data:`MAX_OPTION_VALUES` values or nest past
    :data:`MAX_OPTION_DEPTH` levels: a 1 KB alias bomb expands to 10**9 values when validated.
    The walk stops at the budget, so it costs at most that many steps whatever the bomb."""
    budget, stack = MAX_OPTION_VALUES, [(data, 0)]
    while stack:
        node, depth = stack.pop()
        budget -= 1
        if budget < 0:
            raise OptionError(f'{path}: more than {MAX_OPTION_VALUES} values once YAML anchors are expanded '
                              '(an alias bomb?); options files hold a few hundred')
        if depth > MAX_OPTION_DEPTH:
            raise OptionError(f'{path}: nested more than {MAX_OPTION_DEPTH} levels deep; options files hold a few')
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)


def apply_override(data: dict, assignment: str) -> None:
    """Apply ``a.b.c=value`` to ``data`` (the value is a YAML scalar/list, never code), or
    ``~a.b.c`` (delete that key, e.g. a metric or a dataset the recipe has)."""
    if assignment.startswith('~') and '=' not in assignment:
        parts = assignment[1:].strip().split('.')
        node = data
        for i, part in enumerate(parts[:-1]):
            node = node.get(part) if isinstance(node, dict) else None
            if not isinstance(node, dict):
                raise OptionError(f'{field_name("force")} {assignment}: {".".join(parts[:i + 1])} is not a mapping '
                                  'in the options')
        if not isinstance(node, dict) or parts[-1] not in node:
            raise OptionError(f'{field_name("force")} {assignment}: no key {".".join(parts)} to delete')
        del node[parts[-1]]
        return
    if '=' not in assignment:
        raise OptionError(f'{field_name("force")} {assignment}: expected key.path=value, or ~key.path to delete '
                          'a key')
    key, raw = assignment.split('=', 1)
    try:
        value = yaml.safe_load(raw) if raw != '' else None
    except yaml.YAMLError:
        raise OptionError(f'{field_name("force")} {key}: cannot parse value {raw!r}') from None
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


def _prepare(data: dict) -> dict:
    """Copy the top-level ``scale`` into each dataset (refusing a different one) and give each
    its phase, as BasicSR does; and into a traiNNer-redux preset's ``network_g`` that names none,
    as traiNNer-redux does."""
    data = dict(data)
    scale = data.get('scale', 1)
    sets = data.get('datasets')
    if isinstance(sets, dict):
        sets = {k: dict(v) if isinstance(v, dict) else v for k, v in sets.items()}
        for key, cfg in sets.items():
            if not isinstance(cfg, dict):
                continue
            if 'scale' in cfg and cfg['scale'] != scale:
                raise OptionError(f'datasets.{key}.scale: {cfg["scale"]} differs from the top-level scale {scale}')
            if isinstance(scale, int):
                cfg['scale'] = scale
            cfg.setdefault('phase', 'train' if key == 'train' else 'val')
        data['datasets'] = sets
    g = data.get('network_g')
    if (isinstance(g, dict) and 'scale' not in g and isinstance(scale, int) and isinstance(g.get('type'), str)
            and g['type'] in ARCH_REGISTRY and getattr(ARCH_REGISTRY.get(g['type']), 'scale_from_options', False)):
        data['network_g'] = {**g, 'scale': scale}  # traiNNer-redux's presets take the top-level scale
    if data.get('model_type') is not None and data['model_type'] not in MODEL_REGISTRY:
        MODEL_REGISTRY.get(data['model_type'], 'model_type')
    return data


def parse_options(data: dict) -> RootOptions:
    """Typed, checked options from a recipe's mapping: srkit's (BasicSR's) schema, or
    traiNNer-redux's read through :mod:`srkit.options.redux` (a recipe with no ``model_type``
    and one of its keys), whose notes the options keep (``opt.notes``)."""
    if not isinstance(data, dict):
        raise OptionError(f'expected a mapping at the top level, got {type(data).__name__}')
    notes: list[str] = []
    if redux.is_redux(data):
        data, notes = redux.translate(data)
    opt = validate(schema(), _prepare(data))
    opt._notes = notes
    return opt


def parse_section(cls, data: dict, where: str = ''):
    """One section (e.g. a dataset's ``Options``) from a mapping, checked."""
    return validate(cls, data, where)


def load_options(path: str, overrides: list[str] = ()) -> RootOptions:
    data = read_yaml(path)
    for ov in overrides or ():
        apply_override(data, ov)
    if overrides:
        _check_size(data, field_name('force'))
    return parse_options(data)


parse_dataclass = parse_section  # the name srkit's earlier dataclass schema used

__all__ = ['DatasetOptions', 'Options', 'RootOptions', 'apply_override', 'json_schema', 'load_options',
           'parse_options', 'parse_section', 'read_yaml', 'schema']
