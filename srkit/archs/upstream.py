"""Every single-image SR architecture of spandrel and basicsr as a network type.

One registry entry per upstream class, generated from its constructor: the YAML keys are the
constructor's parameters, typed from its annotations (or, where it has none, from its
defaults), bounded like srkit's own architectures, and described from its docstring.  The
class is the upstream's own (a thin subclass that adds the metadata srkit's tools read), so
state-dict keys stay the upstream's: a file srkit writes for a spandrel architecture loads in
spandrel, and so in chaiNNer.

What each class needs beyond its signature is declared in :data:`SPANDREL` and
:data:`BASICSR`, from the upstream's own loader (``spandrel/architectures/*/__init__.py``):
which parameter is the scale, and the input sizes it accepts (``minimum``, ``multiple``),
which srkit-infer, srkit-eval, srkit-export and validation pad to, and which training crops
must meet.  ``blocks`` names the module lists of a transformer's residual groups: with
``gradient_checkpointing: true`` each is recomputed in the backward pass rather than stored.

Where both upstreams have one architecture, BasicSR's recipe keys work: ``SwinIR`` is
spandrel's class (its keys are a superset of basicsr's, and the state dicts are one layout);
``RCAN`` is basicsr's (its keys and layout differ from spandrel's RCAN, which traiNNer-redux
trains: that one is the ``rcan`` preset, :mod:`srkit.archs.presets`).  srkit's own
``RRDBNet``, ``SRVGGNetCompact`` and ``MSRResNet`` serve spandrel's ESRGAN and Compact
families and basicsr's classes of those names (spandrel reads their files).
"""
from __future__ import annotations

import functools
import importlib
import inspect
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Callable, Optional, Union

from pydantic import Field
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..errors import OptionError
from ..registry import ARCH_REGISTRY, MAX_ARCH_INT
from .util import Arch

# a hyperparameter list (depths, heads per stage) is at most this long: the longest in use has 14
MAX_ARCH_LIST = 64
ArchInt = Annotated[int, Field(ge=0, le=MAX_ARCH_INT)]

Rule = Union[int, str, Callable[[dict], int]]  # a constant, a constructor parameter, or a function of them


@dataclass(frozen=True)
class Upstream:
    """One upstream class and what srkit's tools need to know of it that its signature does not
    say.  ``scale``, ``minimum`` and ``multiple`` are each a number, the name of the
    constructor parameter that holds it, or a function of the constructor's arguments."""

    module: str          # the module that defines the class
    cls: str             # its name there
    name: str = ''       # the network type (default: the class name)
    scale: Rule = 'upscale'
    minimum: Rule = 0
    multiple: Rule = 1
    blocks: tuple = ()   # the module lists that gradient checkpointing wraps
    types: dict = field(default_factory=dict)  # annotations for parameters the upstream left bare
    # what spandrel's loader assumes for parameters the weights do not tell: a network built
    # with other values loads in srkit's tools (its metadata says them) but not in spandrel
    assumes: Union[dict, Callable[[dict], dict]] = field(default_factory=dict)
    source: str = 'spandrel'
    # trains in channels-last layout (train.channels_last's default): PLKSR's and RealPLKSR's large
    # kernels train 9-12x slower in it on CPU (oneDNN's backward; docs/benchmarks.md)
    channels_last: bool = True

    @property
    def type_name(self) -> str:
        return self.name or self.cls


def _s(folder: str, module: str, cls: str, **kw) -> Upstream:
    return Upstream(f'spandrel.architectures.{folder}.__arch.{module}', cls, **kw)


def _swinir_scale(a: dict) -> int:
    return a['upscale'] // a.get('start_unshuffle', 1)


def _grl_assumes(a: dict) -> dict:
    """What spandrel assumes of a GRL whose weights do not hold its index tables (srkit's do not):
    the official models' sizes, the blind-SR ones for a nearest+conv upsampler."""
    blind = a.get('upsampler') == 'nearest+conv'
    return {'window_size': 16 if blind else 32, 'stripe_size': [32, 64] if blind else [64, 64], 'stripe_shift': True,
            'img_range': 1.0, 'euclidean_dist': False, 'pretrained_window_size': [0, 0],
            'pretrained_stripe_size': [0, 0]}


# spandrel 0.4.2's SR families; the size rules are its loaders' SizeRequirements
SPANDREL = (
    _s('ATD', 'atd_arch', 'ATD', minimum=8, blocks=('layers',),
       assumes={'category_size': 256, 'img_range': 1.0, 'patch_size': 1}),
    _s('CRAFT', 'CRAFT', 'CRAFT', minimum=16, multiple=16, blocks=('layers',),
       assumes={'window_size': 16, 'qk_scale': None}),
    _s('DAT', 'DAT', 'DAT', minimum=16, blocks=('layers',), assumes={'qk_scale': None}),
    _s('DCTLSA', 'dctlsa', 'DCTLSA', minimum=16, assumes={'num_head': 5}),
    _s('DITN', 'DITN_Real', 'DITN_Real', multiple='patch_size', assumes={'patch_size': 8}),
    _s('DRCT', 'drct_arch', 'DRCT', multiple=16, blocks=('layers',), assumes={'img_range': 1.0, 'qk_scale': None}),
    _s('FDAT', 'fdat', 'FDAT', scale='scale', blocks=('groups',)),
    # the official SR models' values: the weights tell them only where they hold the index tables
    # GRL pads to a multiple of its pad_size itself, by reflection where the image is large enough and
    # else with zeros in an except clause that ONNX tracing cannot follow (torch's exporter crashes):
    # srkit keeps images large enough to reflect
    _s('GRL', 'grl', 'GRL', blocks=('layers',), minimum=lambda a: a['_net'].pad_size // 2 + 1,
       assumes=_grl_assumes),
    _s('HAT', 'HAT', 'HAT', minimum=16, blocks=('layers',),
       assumes={'conv_scale': 0.01, 'qk_scale': None, 'img_range': 1.0}),
    _s('MoESR', 'MoESR', 'MoESR', scale='scale', minimum=2),
    _s('MoSR', 'mosr_arch', 'MoSR'),
    _s('OmniSR', 'OmniSR', 'OmniSR', scale='up_scale', minimum=16),
    _s('PLKSR', 'PLKSR', 'PLKSR', scale='upscaling_factor', channels_last=False),
    _s('PLKSR', 'RealPLKSR', 'RealPLKSR', scale='upscaling_factor', channels_last=False),
    _s('RGT', 'rgt', 'RGT', minimum=16, blocks=('layers',), assumes={'qk_scale': None, 'img_range': 1.0}),
    _s('RealCUGAN', 'upcunet_v3', 'UpCunet2x', scale=2, minimum=32),
    _s('RealCUGAN', 'upcunet_v3', 'UpCunet3x', scale=3, minimum=32),
    _s('RealCUGAN', 'upcunet_v3', 'UpCunet4x', scale=4, minimum=32),
    _s('RealCUGAN', 'upcunet_v3', 'UpCunet2x_fast', scale=2, minimum=40, multiple=4),
    _s('SAFMN', 'safmn', 'SAFMN', scale='upscaling_factor', multiple=8),
    _s('SeemoRe', 'seemore_arch', 'SeemoRe', scale='scale', minimum=16),
    _s('SPAN', 'span', 'SPAN', types={'num_in_ch': int, 'num_out_ch': int},
       assumes={'img_range': 255.0, 'rgb_mean': [0.4488, 0.4371, 0.404]}),
    # its class is called Generator: the family's name says which
    _s('SwiftSRGAN', 'SwiftSRGAN', 'Generator', name='SwiftSRGAN', scale='upscale_factor'),
    _s('Swin2SR', 'Swin2SR', 'Swin2SR', minimum=16, blocks=('layers',)),
    _s('SwinIR', 'SwinIR', 'SwinIR', scale=_swinir_scale, minimum=16,
       multiple=lambda a: a.get('start_unshuffle', 1) ** 2, blocks=('layers',)),
    # spandrel's RCAN (traiNNer-redux's): the type RCAN is basicsr's, whose recipes name it
    _s('RCAN', 'rcan_arch', 'RCAN', name='_spandrel_RCAN', scale='scale', assumes={'rgb_range': 255}),
)

# basicsr 1.4.2's single-image SR architectures srkit has no class of its own for
BASICSR = (
    Upstream('basicsr.archs.edsr_arch', 'EDSR', source='basicsr',
             types={'num_in_ch': int, 'num_out_ch': int, 'rgb_mean': tuple[float, float, float]}),
    Upstream('basicsr.archs.rcan_arch', 'RCAN', source='basicsr',
             types={'num_in_ch': int, 'num_out_ch': int, 'rgb_mean': tuple[float, float, float]}),
    Upstream('basicsr.archs.ecbsr_arch', 'ECBSR', scale='scale', source='basicsr',
             types={'num_in_ch': int, 'num_out_ch': int, 'num_block': int, 'num_channel': int, 'with_idt': bool,
                    'act_type': typing.Literal['relu', 'linear', 'prelu', 'rrelu', 'softplus'], 'scale': int}),
)

# bare parameters whose default (None) does not say their type
_NONE_DEFAULTS = {'qk_scale': Optional[float]}


def _rule(rule: Rule, args: dict) -> int:
    if callable(rule):
        return int(rule(args))
    return int(args[rule] if isinstance(rule, str) else rule)


def _plain_value(v):
    return list(v) if isinstance(v, tuple) else v


def _bounded(ann):
    """``ann`` with every ``int`` in it at most :data:`MAX_ARCH_INT` and every list at most
    :data:`MAX_ARCH_LIST` long: no key can make the network too large to check."""
    if ann is int:
        return ArchInt
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin in (list, tuple, typing.Sequence, typing.get_origin(typing.Sequence[int])) and args:
        if origin is tuple and args[-1] is not Ellipsis:
            return tuple[tuple(_bounded(a) for a in args)]
        return Annotated[list[_bounded(args[0])], Field(max_length=MAX_ARCH_LIST)]
    if origin is Union or (origin is not None and 'UnionType' in type(ann).__name__):
        return Union[tuple(_bounded(a) for a in args)]
    return ann


def _from_default(default):
    """The type of a bare parameter, from its default; None where YAML cannot give it (a class,
    a function)."""
    if isinstance(default, bool):
        return bool
    for t in (int, float, str):
        if type(default) is t:
            return t
    if isinstance(default, (list, tuple)) and default:
        kinds = {type(v) for v in default}
        inner = float if kinds <= {int, float} and float in kinds else next(iter(kinds))
        if inner in (int, float, str, bool):
            return list[inner]
    return None


def _parameters(up: Upstream, cls: type) -> list[inspect.Parameter]:
    """The constructor's parameters YAML can give, each annotated: the upstream's annotation, the
    table's, or one read from the default; parameters that take a class or a function (a
    norm layer, a conv factory) keep their defaults and are no keys."""
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:  # an annotation naming what is not importable here
        hints = {}
    out = []
    for p in inspect.signature(cls.__init__).parameters.values():
        if p.name == 'self' or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        ann = up.types.get(p.name) or hints.get(p.name)
        if ann is None and p.default is None:
            ann = _NONE_DEFAULTS.get(p.name)
        if ann is None and p.default is not p.empty:
            ann = _from_default(p.default)
        if ann is None or ann is Any:
            if p.default is p.empty:
                raise TypeError(f'{cls.__name__}.{p.name}: no type, no default; declare it in the table')
            continue
        if p.default is not p.empty and (inspect.isclass(p.default) or callable(p.default)):
            continue
        default = list(p.default) if isinstance(p.default, tuple) and typing.get_origin(ann) is list else p.default
        out.append(p.replace(kind=p.KEYWORD_ONLY, annotation=_bounded(ann), default=default))
    return out


def _describe(up: Upstream, cls: type, params: list[inspect.Parameter]) -> str:
    """The entry's docstring: where it comes from, and each key from the upstream's ``Args:``
    (a key it does not document: its default)."""
    from ..config import doc_args
    own = doc_args((cls.__doc__ or '') + '\n\n' + (cls.__init__.__doc__ or ''))
    lib = 'spandrel 0.4.2' if up.source == 'spandrel' else 'basicsr 1.4.2'
    lines = [f'{up.type_name}: {lib}\'s {cls.__name__} ({up.module}), trained by srkit; its keys are the '
             "constructor's, its state-dict keys the upstream's.", '', 'Args:']
    for p in params:
        text = ' '.join(own.get(p.name, '').split())
        default = '' if p.default is p.empty else f' (default {p.default!r})'
        lines.append(f'    {p.name}: {text or "a constructor argument of " + cls.__name__}{default}.')
    if up.blocks:
        lines.append('    gradient_checkpointing: recompute each residual group in the backward pass instead of '
                     'storing its activations: less memory, more computation (default false).')
    return '\n'.join(lines)


def _checkpointed(module: nn.Module) -> None:
    """``module``'s forward recomputed in the backward pass while training: the state dict is
    unchanged (no wrapper module), so files stay the upstream's layout."""
    forward = module.forward

    @functools.wraps(forward)
    def run(*args, **kwargs):
        if module.training and any(p.requires_grad for p in module.parameters()):
            return checkpoint(forward, *args, use_reentrant=False, **kwargs)
        return forward(*args, **kwargs)
    module.forward = run


class UpstreamArch(Arch):
    """The metadata of an upstream class, set from its constructor's arguments (see
    :class:`Upstream`)."""

    upstream: typing.ClassVar[Upstream]
    min_size = 0
    square = False
    caveat: Optional[str] = None  # why spandrel would not read this network's files as it is


def _adapter(up: Upstream) -> type:
    if up.source == 'basicsr':
        from ..compat import import_basicsr
        module = import_basicsr(up.module)  # its torchvision shim first
    else:
        module = importlib.import_module(up.module)
    cls = getattr(module, up.cls)
    params = _parameters(up, cls)
    if any(p.name == 'gradient_checkpointing' for p in params):
        raise TypeError(f'{cls.__name__} has a parameter srkit adds (gradient_checkpointing)')
    defaults = {p.name: p.default for p in params if p.default is not p.empty}

    def __init__(self, gradient_checkpointing: bool = False, **kwargs):
        cls.__init__(self, **kwargs)
        args = {**defaults, **kwargs, '_net': self}
        self.scale = _rule(up.scale, args)
        self.min_size = _rule(up.minimum, args)
        self.size_multiple = max(1, _rule(up.multiple, args))
        assumed = up.assumes(args) if callable(up.assumes) else up.assumes
        other = {k: args.get(k) for k, v in assumed.items() if _plain_value(args.get(k)) != _plain_value(v)}
        if other:
            said = ', '.join(f'{k} {v!r}' for k, v in other.items())
            told = ', '.join(f'{k} {assumed[k]!r}' for k in other)
            self.caveat = (f'{up.type_name} with {said}: spandrel (and chaiNNer) cannot read that from the weights '
                           f'and assume {told}; srkit\'s tools read these files (their metadata says it), spandrel '
                           'would run them wrongly')
        if gradient_checkpointing:
            for attr in up.blocks:
                for block in getattr(self, attr):
                    _checkpointed(block)

    def forward(self, x, *args, **kwargs):
        # on a copy: some upstream forwards scale their input in place (spandrel's RCAN), which
        # would change the batch, or the image a tile is a view of
        try:
            return cls.forward(self, x.clone(), *args, **kwargs)
        except (RuntimeError, ValueError, ZeroDivisionError, AssertionError, IndexError) as e:
            # hyperparameters its constructor took but its layers cannot run (an embed_dim the heads
            # do not divide, a patch_size 0): the options' problem, said in one line
            if isinstance(e, RuntimeError) and 'out of memory' in str(e):
                raise
            detail = ' '.join(str(e).split())[:200] or type(e).__name__
            raise OptionError(f'{up.type_name} cannot run a {tuple(x.shape)} input ({detail}); check its '
                              'hyperparameters') from None

    sig = list(params)
    if up.blocks:
        sig.append(inspect.Parameter('gradient_checkpointing', inspect.Parameter.KEYWORD_ONLY, default=False,
                                     annotation=bool))
    __init__.__signature__ = inspect.Signature([inspect.Parameter('self', inspect.Parameter.POSITIONAL_OR_KEYWORD)]
                                               + sig)
    __init__.__annotations__ = {p.name: p.annotation for p in sig}
    return type(up.type_name, (cls, UpstreamArch), {
        '__init__': __init__, 'forward': forward, '__doc__': _describe(up, cls, params), '__module__': __name__,
        '__qualname__': up.type_name, 'upstream': up, 'train_channels_last': up.channels_last})


TABLE = {up.type_name: up for up in SPANDREL + BASICSR}


class _Classes(Mapping):
    """``{type name: class}`` of :data:`TABLE`, each class made (its library imported) when first
    asked for, as the registry makes it."""

    def __getitem__(self, name):
        if name not in TABLE:
            raise KeyError(name)
        return ARCH_REGISTRY.get(name)

    def __iter__(self):
        return iter(TABLE)

    def __len__(self):
        return len(TABLE)


for _name, _up in TABLE.items():
    ARCH_REGISTRY.register_lazy(_name, functools.partial(_adapter, _up))
CLASSES = _Classes()
