"""Registries: one decorator adds an arch, loss, dataset, model or scheduler.

Registering is the only import-time side effect.  Builders look up the YAML
``type`` key and check the remaining keys against the constructor signature,
so a typo is an error naming the key rather than a ``TypeError`` deep inside.
"""
from __future__ import annotations

import inspect
import typing
from typing import Any, Callable

from .errors import OptionError


class Registry:
    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, Any] = {}

    def register(self, obj=None, *, name: str | None = None):
        """Use as ``@REG.register()``, ``@REG.register`` or ``@REG.register(name='Alias')``."""

        def add(o):
            key = name or o.__name__
            if key in self._items and self._items[key] is not o:
                raise KeyError(f'{self.kind} {key!r} is registered twice')
            self._items[key] = o
            return o

        return add(obj) if obj is not None else add

    def get(self, name: str, where: str = 'type'):
        if name not in self._items:
            known = ', '.join(sorted(self._items))
            raise OptionError(f'{where}: unknown {self.kind} type {name!r} (known: {known})')
        return self._items[name]

    def __contains__(self, name):
        return name in self._items

    def keys(self):
        return sorted(self._items)


ARCH_REGISTRY = Registry('arch')
LOSS_REGISTRY = Registry('loss')
DATASET_REGISTRY = Registry('dataset')
MODEL_REGISTRY = Registry('model')
SCHEDULER_REGISTRY = Registry('scheduler')


def _type_ok(value, ann) -> bool:
    if ann is inspect.Parameter.empty or ann is Any:
        return True
    if isinstance(ann, str):  # postponed annotations we could not resolve
        return True
    origin = typing.get_origin(ann)
    if origin is typing.Union or (origin is not None and str(origin) == "<class 'types.UnionType'>"):
        return any(_type_ok(value, a) for a in typing.get_args(ann))
    if ann is type(None):
        return value is None
    if origin in (list, tuple, typing.Sequence):
        return isinstance(value, (list, tuple))
    if origin is dict:
        return isinstance(value, dict)
    if origin is typing.Literal:
        return value in typing.get_args(ann)
    if ann is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if ann is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(ann, type):
        return isinstance(value, ann)
    return True


def check_kwargs(fn: Callable, kwargs: dict, where: str, skip: tuple = ()) -> None:
    """Raise OptionError if ``kwargs`` has a key ``fn`` does not accept or a wrong type."""
    sig = inspect.signature(fn)
    try:
        hints = typing.get_type_hints(fn)
    except Exception:
        hints = {}
    params = {k: p for k, p in sig.parameters.items() if k != 'self'}
    var_kw = any(p.kind is p.VAR_KEYWORD for p in params.values())
    for key, value in kwargs.items():
        if key in skip:
            continue
        if key not in params:
            if var_kw:
                continue
            accepted = ', '.join(k for k, p in params.items() if p.kind is not p.VAR_KEYWORD)
            raise OptionError(f'{where}.{key}: unknown argument (accepted: {accepted})')
        ann = hints.get(key, params[key].annotation)
        if not _type_ok(value, ann):
            tname = getattr(ann, '__name__', str(ann).replace('typing.', ''))
            raise OptionError(f'{where}.{key}: expected {tname}, got {type(value).__name__} {value!r}')
    missing = [k for k, p in params.items()
               if p.default is p.empty and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
               and k not in kwargs and k not in skip]
    if missing:
        raise OptionError(f'{where}.{missing[0]}: required argument is missing')


def build_from_config(registry: Registry, cfg: dict, where: str, **extra):
    """Instantiate ``registry[cfg['type']](**rest, **extra)`` after checking the keys."""
    if not isinstance(cfg, dict) or 'type' not in cfg:
        raise OptionError(f'{where}.type: missing')
    cls = registry.get(cfg['type'], f'{where}.type')
    kwargs = {k: v for k, v in cfg.items() if k != 'type'}
    check_kwargs(cls.__init__ if inspect.isclass(cls) else cls, {**kwargs, **extra}, where)
    return cls(**kwargs, **extra)
