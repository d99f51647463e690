"""The options schema's machinery: typed sections that refuse unknown keys, one-line errors.

Every option section is a :class:`Schema` (a pydantic v2 model).  Parsing is one
pydantic validation of the whole tree, then one walk that calls each section's
``check(path)`` for the checks that need the key path or several fields (files
that must exist, sizes that must divide).  A problem of any kind raises
:class:`~srkit.errors.OptionError` on one line that starts with the key path::

    train.perceptal_opt: unknown key (known: accum_iter, amp, ...)

Scalars follow YAML as BasicSR's recipes write it: an ``int`` takes an integral
float (``!!float 5e3``), a ``float`` takes a numeric string (YAML 1.1 reads ``1e-4``
as a string), a ``bool`` takes only ``true``/``false``.  :func:`signature_model`
turns a constructor's signature into a section, so an architecture's, loss's,
optimizer's or scheduler's parameters are its schema.
"""
from __future__ import annotations

import inspect
import re
import types
import typing
from typing import Annotated, Any, Callable, Literal, Optional, Union

from pydantic import (BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, PrivateAttr, Tag,
                      ValidationError, create_model, model_validator)
from pydantic_core import PydanticCustomError

from .errors import OptionError

# ---------------------------------------------------------------------------
# scalars


MAX_INT = 2 ** 63 - 1  # what torch and C++ hold; past it a value overflows far from the option


def _int(v):
    if isinstance(v, bool) or isinstance(v, str):
        raise PydanticCustomError('expected', 'expected an integer, got {got}', {'got': _show(v)})
    if isinstance(v, float):
        if not v.is_integer():
            raise PydanticCustomError('expected', 'expected an integer, got {got}', {'got': _show(v)})
        v = int(v)
    if isinstance(v, int) and not -MAX_INT <= v <= MAX_INT:
        raise PydanticCustomError('expected', 'expected an integer of at most 64 bits, got {got}', {'got': _show(v)})
    return v


def _float(v):
    if isinstance(v, bool):
        raise PydanticCustomError('expected', 'expected a number, got {got}', {'got': _show(v)})
    if isinstance(v, str):
        try:
            v = float(v)
        except ValueError:
            raise PydanticCustomError('expected', 'expected a number, got {got}', {'got': _show(v)}) from None
    if isinstance(v, float) and v != v:  # NaN passes every comparison a check makes
        raise PydanticCustomError('expected', 'expected a number, got NaN', {})
    return v


def _bool(v):
    if not isinstance(v, bool):
        raise PydanticCustomError('expected', 'expected true/false, got {got}', {'got': _show(v)})
    return v


def _str(v):
    if not isinstance(v, str):
        raise PydanticCustomError('expected', 'expected a string, got {got}', {'got': _show(v)})
    return v


def _show(v) -> str:
    text = repr(v)
    return f'{type(v).__name__} {text if len(text) <= 60 else text[:57] + "..."}'


Int = Annotated[int, BeforeValidator(_int)]
Float = Annotated[float, BeforeValidator(_float)]
Bool = Annotated[bool, BeforeValidator(_bool)]
Str = Annotated[str, BeforeValidator(_str)]


def _two_numbers(v):
    if not isinstance(v, (list, tuple)) or len(v) != 2:
        raise PydanticCustomError('expected', 'expected two numbers, got {got}', {'got': _show(v)})
    return tuple(v)


Pair = Annotated[tuple[Float, Float], BeforeValidator(_two_numbers)]


def IntIn(lo: int, hi: int):  # noqa: N802 - a type, as Int is
    """An integer option in ``[lo, hi]``: sizes and counts are bounded where they are typed, so
    no value can make a tool allocate, fork or loop without limit (JSON Schema shows the bounds)."""
    return Annotated[int, BeforeValidator(_int), Field(ge=lo, le=hi)]

# ---------------------------------------------------------------------------
# sections


class Schema(BaseModel):
    """An option section: typed fields, no key beyond them.

    ``check(path)`` runs after the whole tree is typed, children first, with the
    section's key path; it raises :class:`OptionError` for what types cannot say.
    """

    model_config = ConfigDict(extra='forbid', protected_namespaces=(), validate_assignment=False,
                              arbitrary_types_allowed=True)

    @model_validator(mode='before')
    @classmethod
    def _refuse_unknown(cls, data):
        if isinstance(data, dict):
            known = cls.known_keys()
            for key in data:
                if key not in known:
                    raise PydanticCustomError('unknown_key', 'unknown key', {'key': str(key),
                                                                             'known': ', '.join(sorted(known))})
        elif data is None:
            return {}
        return data

    @classmethod
    def known_keys(cls) -> set:
        return {f.alias or n for n, f in cls.model_fields.items()}

    def check(self, path: str) -> None:
        """Checks beyond the types; ``path`` is this section's key path ('' at the top)."""

    def given(self) -> dict:
        """The keys the options file set, as plain data."""
        return self.model_dump(exclude_unset=True, mode='python')


class Spec(Schema):
    """A section whose ``type`` picks a class; the class's constructor parameters are
    the other keys (see :func:`signature_model`).  Reads like the mapping it came from."""

    type: str

    def kwargs(self) -> dict:
        """The constructor arguments the options set (defaults left to the constructor)."""
        d = self.model_dump(exclude_unset=True, mode='python')
        d.pop('type', None)
        for k in self.spec_only:
            d.pop(k, None)
        return d

    def as_config(self) -> dict:
        return {'type': self.type, **self.kwargs()}

    spec_only: typing.ClassVar[tuple] = ()

    def __getitem__(self, key):
        return self.as_config()[key]

    def get(self, key, default=None):
        return self.as_config().get(key, default)


# ---------------------------------------------------------------------------
# a constructor's signature as a section


def _plain(ann):
    """A constructor annotation as a schema type (YAML's scalars, lists and mappings)."""
    if ann is inspect.Parameter.empty or ann is Any or isinstance(ann, str):
        return Any
    if typing.get_origin(ann) is Annotated:  # a constructor's own bounds (IntIn ...) are kept
        base, *meta = typing.get_args(ann)
        return Annotated[(_plain(base), *meta)]
    if ann is bool:
        return Bool
    if ann is int:
        return Int
    if ann is float:
        return Float
    if ann is str:
        return Str
    if ann is type(None):
        return type(None)
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin is Literal:
        return ann
    if origin is Union or origin is types.UnionType:
        # members YAML cannot give (a Tensor, a module) drop out; nothing typed left: accept anything
        typed = [m for m in (_plain(a) for a in args) if m is not Any]
        if all(m is type(None) for m in typed):
            return Any
        return Union[tuple(typed)] if len(typed) > 1 else typed[0]
    if origin in (list, typing.Sequence, tuple) or ann in (list, tuple):
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) == 2 and all(_plain(a) is Float for a in args):
                return Pair
            return tuple[tuple(_plain(a) for a in args)]
        inner = _plain(args[0]) if args else Any
        return list[inner]
    if origin is dict or ann is dict:
        return dict[Any, _plain(args[1])] if len(args) == 2 else dict[Any, Any]
    return Any


def fields_model(name: str, params: dict, base: type = Spec, tag: Optional[str] = None, doc: Optional[str] = None,
                 int_bounds: Optional[tuple[int, int]] = None, **extra_fields):
    """A section whose fields are ``{name: (annotation, default)}`` (``inspect.Parameter.empty``
    or ``...``: required), each annotation typed as YAML gives it; ``tag`` fixes ``type``.
    ``int_bounds``: ``(lo, hi)`` for every plain ``int`` parameter that declares no bounds."""
    fields: dict[str, Any] = {}
    for pname, (ann, default) in params.items():
        ann = Pair if pname == 'betas' else _plain(ann)
        if int_bounds is not None and ann is Int:
            ann = IntIn(*int_bounds)
        fields[pname] = (ann, ... if default is inspect.Parameter.empty else default)
    if tag is not None:
        fields['type'] = (Literal[tag], ...)
    fields.update(extra_fields)
    return create_model(name, __base__=base, __doc__=doc, **fields)


def signature_model(name: str, fn: Callable, base: type = Spec, skip: tuple = ('self',),
                    tag: Optional[str] = None, int_bounds: Optional[tuple[int, int]] = None, **extra_fields):
    """A section whose fields are ``fn``'s parameters (less ``skip``), typed from its
    annotations; ``tag`` fixes the ``type`` key's value."""
    sig = inspect.signature(fn)
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception:  # an annotation that names something not importable here
        hints = {}
    params = {n: (hints.get(n, p.annotation), p.default) for n, p in sig.parameters.items()
              if n not in skip and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
    doc = (inspect.getdoc(fn) or '').split('\n\n')[0] or None
    return fields_model(name, params, base, tag, doc, int_bounds, **extra_fields)


_DEGRADATIONS: dict[str, type] = {}


def check_degradation(method: str, kwargs: dict, where: str) -> None:
    """A degradation pipeline's options (``degradations.option_types``) checked like every other
    section: unknown keys and wrong types are one line naming ``where.key``."""
    from degradations import option_types
    if method not in _DEGRADATIONS:
        _DEGRADATIONS[method] = fields_model(f'{method}Degradation', option_types(method), base=Schema,
                                             int_bounds=(0, MAX_SIZE))  # kernel sizes, tiles: image sides
    validate(_DEGRADATIONS[method], kwargs, where)


class _Discriminator(Discriminator):
    """Hashable (its error context is a dict), so ``Optional[...]`` can hold the union."""

    def __hash__(self):
        return id(self)


def tagged_union(models: dict, kind: str, key: str = 'type'):
    """``{tag: model}`` as one annotation whose ``key`` value picks the model; an unknown
    or missing value is one error naming ``kind`` and the known values."""
    known = ', '.join(sorted(models))

    def pick(v):
        return v.get(key) if isinstance(v, dict) else getattr(v, key, None)

    if len(models) == 1:
        return next(iter(models.values()))
    members = tuple(Annotated[m, Tag(t)] for t, m in models.items())
    return Annotated[Union[members], _Discriminator(
        pick, custom_error_type='unknown_type', custom_error_message=f'unknown {kind} type',
        custom_error_context={'kind': kind, 'key': key, 'known': known})]


# ---------------------------------------------------------------------------
# validation with one-line errors


def _key_path(loc: tuple, data) -> str:
    """pydantic's ``loc`` as ``a.b[0].c``, without the tags a tagged union adds."""
    parts, node = [], data
    for el in loc:
        if isinstance(el, str) and not isinstance(node, (dict, list, tuple)) and parts:
            continue  # a member of a union of plain types ('int', "literal['auto']"): not a key
        if isinstance(node, dict) and el not in node and isinstance(el, str):
            # a union member's tag (its ``type`` or ``model_type`` value): not a key
            if el in (node.get('type'), node.get('model_type')) or el.startswith('function-'):
                continue
        if isinstance(el, int) and isinstance(node, (list, tuple)):
            parts.append(f'[{el}]')
            node = node[el] if el < len(node) else None
            continue
        parts.append(('.' if parts else '') + str(el))
        node = node.get(el) if isinstance(node, dict) else None
    return ''.join(parts)


def _message(err: dict, data) -> tuple[str, str]:
    """``(key path, what is wrong)`` for one pydantic error."""
    kind, ctx, loc = err['type'], err.get('ctx') or {}, tuple(err['loc'])
    path = _key_path(loc, data)
    inp = err.get('input')
    join = (lambda a, b: f'{a}.{b}' if a else b)
    if kind == 'unknown_key':
        return join(path, ctx['key']), f'unknown key (known: {ctx["known"]})'
    if kind == 'extra_forbidden':
        return path, 'unknown key'
    if kind == 'missing':
        return path, 'required key is missing'
    if kind == 'unknown_type':
        tag = inp.get(ctx['key']) if isinstance(inp, dict) else None
        if isinstance(inp, dict) and tag is None:
            return join(path, ctx['key']), f'missing (known: {ctx["known"]})'
        if not isinstance(inp, dict):
            return path, f'expected a mapping with a {ctx["key"]} key, got {_show(inp)}'
        return join(path, ctx['key']), f'unknown {ctx["kind"]} type {tag!r} (known: {ctx["known"]})'
    if kind == 'literal_error':
        return path, f'expected one of {ctx.get("expected", "")}, got {inp!r}'
    if kind in ('model_type', 'model_attributes_type', 'dict_type'):
        return path, f'expected a mapping, got {_show(inp)}'
    if kind in ('list_type', 'tuple_type'):
        return path, f'expected a list, got {_show(inp)}'
    if kind in ('greater_than_equal', 'greater_than', 'less_than', 'less_than_equal'):
        op = {'greater_than_equal': '>=', 'greater_than': '>', 'less_than': '<', 'less_than_equal': '<='}[kind]
        bound = next(iter(ctx.values()), '')
        return path, f'must be {op} {bound}, got {inp!r}'
    msg = err['msg']
    for prefix in ('Value error, ', 'Assertion failed, '):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    return path, msg


def first_error(e: ValidationError, data, under: str = '') -> str:
    """The first error as one line, ``key.path: what is wrong``."""
    errs = [_message(err, data) for err in e.errors(include_url=False)]
    path, text = errs[0]
    alike = [t for p, t in errs if p == path and t.startswith('expected ') and ', got ' in t]
    if len(alike) > 1 and text in alike:  # a union of plain types: each member's failure, as one
        got = text[text.rindex(', got '):]
        wants = [t[len('expected '):t.rindex(', got ')] for t in alike]
        text = 'expected ' + ' or '.join(dict.fromkeys(wants)) + got
    path = f'{under}.{path}' if under and path else (under or path)
    return f'{path}: {text}' if path else text


def run_checks(obj, path: str = '') -> None:
    """Call ``check(path)`` on every section below ``obj`` (children first), then on ``obj``."""
    if isinstance(obj, Schema):
        for name in type(obj).model_fields:
            value = getattr(obj, name)
            if value is not None:
                run_checks(value, f'{path}.{name}' if path else name)
        obj.check(path)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            run_checks(v, f'{path}.{k}' if path else str(k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            run_checks(v, f'{path}[{i}]')


def validate(model, data, path: str = ''):
    """``model`` (a Schema class or any type pydantic validates) from ``data``, checked;
    :class:`OptionError` on the first problem, naming its key path under ``path``."""
    from pydantic import TypeAdapter
    adapter = model if isinstance(model, TypeAdapter) else TypeAdapter(model)
    try:
        obj = adapter.validate_python(data)
    except ValidationError as e:
        raise OptionError(first_error(e, data, path)) from None
    run_checks(obj, path)
    return obj


def is_safe_name(name) -> bool:
    """Whether ``name``, joined to any folder, stays inside it: a relative path with no ``..``
    component and no NUL, not empty (either slash counts as a separator)."""
    if not isinstance(name, str) or not name.strip() or '\0' in name:
        return False
    parts = re.split(r'[\\/]', name)
    return not (name.startswith(('/', '\\')) or re.match(r'^[A-Za-z]:', name) or '..' in parts
                or all(p in ('', '.') for p in parts))


def check_name(value: str, path: str) -> None:
    """``name:`` keys name folders (experiments, validation images): they must stay inside them."""
    if not is_safe_name(value):
        raise OptionError(f'{path}: {value!r} is not a safe folder name (absolute, empty, or with "..")')


def check_path(value: Optional[str], path: str, required: bool = True) -> Optional[str]:
    """``value`` with ``~`` expanded; :class:`OptionError` naming ``path`` when it does not exist."""
    import os
    if value is None:
        if required:
            raise OptionError(f'{path}: required key is missing')
        return None
    p = os.path.expanduser(value)
    if not os.path.exists(p):
        raise OptionError(f'{path}: no such file or directory: {value}')
    return p


# ---------------------------------------------------------------------------
# the sections every recipe shares (the per-model parts are assembled in srkit.options)


MAX_ITER = 10 ** 10  # iterations: a thousand years at 300 it/s
MAX_SIZE = 16384  # an image side an option may ask for (a crop, a resize)


class IOBackend(Schema):
    type: Literal['disk', 'lmdb'] = 'disk'


class DatasetOptions(Schema):
    """Keys every dataset accepts; each dataset class subclasses this with its own."""

    name: Str = 'dataset'
    type: Str = ''
    phase: Literal['train', 'val', 'test'] = 'train'
    io_backend: IOBackend = IOBackend()
    # loader processes: more than 256 (utils.device.MAX_WORKERS) is refused, more than the CPUs capped
    num_worker_per_gpu: IntIn(0, 256) = 2
    batch_size_per_gpu: IntIn(1, 65536) = 1
    dataset_enlarge_ratio: IntIn(1, 1_000_000) = 1
    # BasicSR's prefetch modes load unchanged: srkit's loader always prefetches in workers
    # and, on CUDA, copies from pinned memory without blocking
    prefetch_mode: Optional[Literal['cpu', 'cuda']] = None
    pin_memory: Bool = True
    use_shuffle: Bool = True
    scale: Int = 1  # the top-level `scale`, copied in

    def check(self, path):
        check_name(self.name, f'{path}.name')
        if self.batch_size_per_gpu < 1:
            raise OptionError(f'{path}.batch_size_per_gpu: must be >= 1, got {self.batch_size_per_gpu}')
        if self.num_worker_per_gpu < 0:
            raise OptionError(f'{path}.num_worker_per_gpu: must be >= 0')
        if self.dataset_enlarge_ratio < 1:
            raise OptionError(f'{path}.dataset_enlarge_ratio: must be >= 1')


class TrainOptions(Schema):
    """``train:`` keys every family shares; srkit.options adds the family's optimizers
    (``optim_<net>``), its BasicSR loss keys (``pixel_opt`` ...), ``losses`` and ``scheduler``."""

    total_iter: IntIn(1, MAX_ITER)
    ema_decay: Float = 0.0
    warmup_iter: Int = -1
    # precision and layout: fp32 + channels_last measured fastest on CPU
    # (scripts/bench/train_step.py, docs/benchmarks.md); bf16/fp16 are for GPUs
    amp: Literal['none', 'bf16', 'fp16'] = 'none'
    channels_last: Bool = True
    compile: Bool = False
    grad_clip: Optional[Float] = None  # max global L2 norm of each optimizer's gradients
    accum_iter: IntIn(1, 65536) = 1  # batches whose gradients add up before each optimizer step
    # a non-finite loss or gradient: stop (keeping the last finite checkpoint) or skip that step
    nonfinite: Literal['stop', 'skip_step'] = 'stop'
    # the generator's loss terms, resolved from `losses` and the BasicSR keys (srkit.options)
    _loss_terms: list = PrivateAttr(default_factory=list)

    def check(self, path):
        if self.total_iter < 1:
            raise OptionError(f'{path}.total_iter: must be >= 1, got {self.total_iter}')
        if not 0.0 <= self.ema_decay < 1.0:
            raise OptionError(f'{path}.ema_decay: must be in [0, 1), got {self.ema_decay}')
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise OptionError(f'{path}.grad_clip: must be > 0 (leave it out for no clipping), got {self.grad_clip}')
        if self.accum_iter < 1:
            raise OptionError(f'{path}.accum_iter: must be >= 1, got {self.accum_iter}')

    @property
    def loss_terms(self) -> list:
        """``[LossTerm]``: every loss the family computes, each with its target and log name."""
        return self._loss_terms

    @property
    def optimizers(self) -> dict:
        """``{net: optimizer spec}`` from the ``optim_<net>`` keys."""
        return {k[len('optim_'):]: v for k, v in self if k.startswith('optim_') and v is not None}


class GANTrainOptions(TrainOptions):
    """SRGAN/ESRGAN's schedule: G updates every ``net_d_iters`` iterations, D alone for the first
    ``net_d_init_iters``."""

    net_d_iters: Int = 1
    net_d_init_iters: Int = 0

    def check(self, path):
        super().check(path)
        if self.net_d_iters < 1:
            raise OptionError(f'{path}.net_d_iters: must be >= 1, got {self.net_d_iters}')


class MetricOptions(Schema):
    """A validation metric: BasicSR's function names (``calculate_psnr``, ``calculate_ssim``,
    ``calculate_niqe``) or pyiqa's (``psnr``, ``ssim``, ``niqe``, ``lpips``).  NIQE is on Y
    (``test_y_channel`` does not apply); LPIPS on RGB, its weights from the torch hub cache."""

    type: Literal['calculate_psnr', 'calculate_ssim', 'calculate_niqe', 'psnr', 'ssim', 'niqe', 'lpips']
    crop_border: Int = 0
    test_y_channel: Bool = True
    better: Optional[Literal['higher', 'lower']] = None  # which way the best value is kept (default: the metric's)

    @property
    def kind(self) -> str:
        return self.type.replace('calculate_', '')

    @property
    def higher_is_better(self) -> bool:
        if self.better is not None:
            return self.better == 'higher'
        return self.kind in ('psnr', 'ssim')


class ValOptions(Schema):
    val_freq: Int = 5000
    save_img: Bool = False
    suffix: Optional[Str] = None
    pbar: Bool = False  # a progress bar over each validation set
    max_tb_images: Int = 4
    metrics: dict[str, MetricOptions] = {}

    def check(self, path):
        if self.val_freq < 1:
            raise OptionError(f'{path}.val_freq: must be >= 1, got {self.val_freq}')


class WandbOptions(Schema):
    project: Optional[Str] = None
    resume_id: Optional[Str] = None

    def check(self, path):
        for key in ('project', 'resume_id'):  # BasicSR's recipes carry both as ~
            if getattr(self, key):
                raise OptionError(f'{path}.{key}: wandb is not supported; use TensorBoard (logger.use_tb_logger)')


class LoggerOptions(Schema):
    print_freq: Int = 100
    save_checkpoint_freq: Int = 5000
    use_tb_logger: Bool = True
    keep_checkpoints: Int = 0  # 0 keeps all; N keeps the newest N training states
    # network files: BasicSR's .pth (params and params_ema), or .safetensors (one flat state
    # dict, the EMA when there is one; the raw weights then go into the training state)
    save_format: Literal['pth', 'safetensors'] = 'pth'
    wandb: WandbOptions = WandbOptions()

    def check(self, path):
        if self.print_freq < 1 or self.save_checkpoint_freq < 1:
            raise OptionError(f'{path}: print_freq and save_checkpoint_freq must be >= 1')


class PretrainOptions(Schema):
    path: Optional[str] = None
    param_key: str = 'params'
    strict: bool = True


class PathOptions(Schema):
    """``path:``; srkit.options adds ``pretrain_network_<net>``, ``param_key_<net>`` and
    ``strict_load_<net>`` for each network of the family."""

    experiments_root: Optional[Str] = None
    resume_state: Optional[Str] = None

    def check(self, path):
        if self.resume_state is not None:
            check_path(self.resume_state, f'{path}.resume_state')
        for key, value in self:
            if key.startswith('pretrain_network_') and value:
                setattr(self, key, check_path(value, f'{path}.{key}'))

    @property
    def pretrain(self) -> dict[str, PretrainOptions]:
        out = {}
        for key, value in self:
            if key.startswith('pretrain_network_'):
                net = key[len('pretrain_network_'):]
                out[net] = PretrainOptions(path=value or None, param_key=getattr(self, f'param_key_{net}'),
                                           strict=getattr(self, f'strict_load_{net}'))
        return out


class DistOptions(Schema):
    backend: Optional[Literal['gloo', 'nccl', 'mpi']] = None  # default: nccl on GPUs, gloo on CPUs
    port: Int = 29500  # MASTER_PORT when the launcher did not set one (torchrun does)
