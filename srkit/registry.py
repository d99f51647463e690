"""Registries: one decorator adds an arch, loss, dataset, model, optimizer or scheduler.

Registering is the only import-time side effect.  Each entry's options schema is
its constructor's signature (:func:`srkit.config.signature_model`), or the section
it declares as ``Options`` (a dataset does): the YAML ``type`` picks the class and
the other keys must be its parameters, with their types, so a typo stops the run
with a line naming the key.  Each key's description is its line in the docstring's
``Args:`` (the class's, its constructor's, or its ``Options``' ``Attributes:``).
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Any, Literal, Optional

from pydantic import Field, create_model

from .config import (Schema, Spec, class_docs, describe_fields, doc_args, docstring, signature_model, summary,
                     tagged_union, validate)
from .errors import OptionError


class Registry:
    """``name -> class`` with a typed spec per entry.

    ``skip`` names constructor parameters the caller supplies (an optimizer's
    ``params``); ``spec_base`` adds keys every entry's spec accepts (a loss's
    ``target``), which :meth:`build` does not pass to the constructor.  ``int_bounds``: the
    range of every ``int`` parameter whose annotation declares none (``config.IntIn``).
    """

    def __init__(self, kind: str, skip: tuple = (), spec_base: type = Spec,
                 int_bounds: Optional[tuple[int, int]] = None):
        self.kind = kind
        self.int_bounds = int_bounds
        self.skip = ('self',) + tuple(skip)
        self.spec_base = spec_base
        self._items: dict[str, Any] = {}
        self._lazy: dict[str, Any] = {}  # name -> a function that imports and returns the entry
        self._specs: dict[str, type] = {}

    def register(self, obj=None, *, name: Optional[str] = None):
        """Use as ``@REG.register()``, ``@REG.register`` or ``@REG.register(name='Alias')``."""

        def add(o):
            key = name or o.__name__
            if key in self._lazy or (key in self._items and self._items[key] is not o):
                raise KeyError(f'{self.kind} {key!r} is registered twice')
            self._items[key] = o
            self._specs.pop(key, None)
            return o

        return add(obj) if obj is not None else add

    def register_lazy(self, name: str, load) -> None:
        """Add entry ``name``, made by ``load()`` the first time it is asked for: an entry whose
        library is slow to import (spandrel's architectures, basicsr's) costs nothing to a tool
        that never names it."""
        if name in self._items or name in self._lazy:
            raise KeyError(f'{self.kind} {name!r} is registered twice')
        self._lazy[name] = load

    def get(self, name: str, where: str = 'type'):
        if name not in self._items:
            if name not in self._lazy:
                raise OptionError(f'{where}: unknown {self.kind} type {name!r} (known: {", ".join(self.keys())})')
            self._items[name] = self._lazy.pop(name)()
        return self._items[name]

    def __contains__(self, name):
        return name in self._items or name in self._lazy

    def keys(self, loaded: bool = False):
        """Every entry's name, sorted; ``loaded``: only those already made (no import)."""
        return sorted(self._items) if loaded else sorted({*self._items, *self._lazy})

    def spec(self, name: str) -> type:
        """The options section of entry ``name``: ``type: name`` and the entry's own section, its
        ``Options`` class when it declares one (a dataset does), else its constructor's parameters.
        Each key's description is its entry in the docstrings' ``Args:`` (``Attributes:``)."""
        if name not in self._specs:
            obj = self.get(name)
            doc = docstring(obj)
            own = getattr(obj, 'Options', None)
            if inspect.isclass(own) and issubclass(own, Schema):  # the entry declares its section itself
                text = summary(doc)
                model = create_model(f'{name}Options', __base__=own,
                                     type=(Literal[name], Field(..., description=f'{name}: {text}' if text else name)))
                describe_fields(model, {**doc_args(doc), **class_docs(model)})
            else:
                fn = obj.__init__ if inspect.isclass(obj) else obj
                model = signature_model(f'{name}{self.kind.title()}', fn, self.spec_base, self.skip, tag=name,
                                        int_bounds=self.int_bounds, doc=doc)
            self._specs[name] = model
        return self._specs[name]

    def union(self, public: bool = False):
        """One annotation for a section of any registered type (``type`` picks it); ``public``
        leaves out names that start with an underscore (tests' own)."""
        return tagged_union({n: self.spec(n) for n in self.keys() if not (public and n.startswith('_'))}, self.kind)

    def parse(self, cfg, where: str):
        """``cfg`` (a mapping or an already typed spec) as this registry's typed spec."""
        if isinstance(cfg, Spec):
            return cfg
        if not isinstance(cfg, dict):
            raise OptionError(f'{where}: expected a mapping with a type key, got {type(cfg).__name__} {cfg!r}')
        if 'type' not in cfg:
            raise OptionError(f'{where}.type: missing (known: {", ".join(self.keys())})')
        self.get(cfg['type'], f'{where}.type')
        return validate(self.spec(cfg['type']), cfg, where)

    def build(self, cfg, where: str, *args, **extra):
        """Instantiate ``cfg``'s class with its keys (checked) after ``args``/``extra``."""
        spec = self.parse(cfg, where)
        return self._items[spec.type](*args, **spec.kwargs(), **extra)


def import_all(package: str, path) -> None:
    """Import every module of a package (its ``__name__``, ``__path__``), so a new file that
    registers an arch, loss or model is found without an edit to the package's ``__init__``."""
    for m in pkgutil.iter_modules(path):
        importlib.import_module(f'{package}.{m.name}')


class LossSpec(Spec):
    """A loss's keys beyond its constructor: what it compares (``target``, one of those the
    model family offers) and the name its value is logged under.

    Attributes:
        target: what the loss compares the output with, one of the targets the model family offers
            (``gt``, ``gt_usm``, ``cycle_a`` ...); required where the family offers several, none
            for a ``GANLoss``; default: the family's one target.
        name: the name its value is logged under; default: derived from the type and target
            (``l_g_mse_gt``).
    """

    target: Optional[str] = None
    name: Optional[str] = None
    spec_only = ('target', 'name')


# an architecture's counts and widths (blocks, features, channels): no SR network has one past a
# thousand, and a larger one would only make the network too large to build (see archs.build_network)
MAX_ARCH_INT = 1024
ARCH_REGISTRY = Registry('arch', int_bounds=(0, MAX_ARCH_INT))
LOSS_REGISTRY = Registry('loss', spec_base=LossSpec)
DATASET_REGISTRY = Registry('dataset')
MODEL_REGISTRY = Registry('model')
SCHEDULER_REGISTRY = Registry('scheduler', skip=('optimizer', 'last_epoch', 'verbose'))
OPTIMIZER_REGISTRY = Registry('optimizer', skip=('params', 'foreach', 'capturable', 'differentiable', 'fused',
                                                 'maximize', 'decoupled_weight_decay'))
