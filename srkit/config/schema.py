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

Every key is described where its code is: a constructor's parameter by its line in the
docstring's ``Args:`` section, a hand-written section's field by its line in the class
docstring's ``Attributes:`` (:func:`doc_args`, Google style), or by ``Field(description=...)``.
The JSON Schema (``srkit-train --print-schema``) carries each as the key's ``description``.
This module imports nothing from :mod:`srkit.config.sections`, which is built with it.
"""
from __future__ import annotations

import inspect
import re
import types
import typing
import weakref
from typing import Annotated, Any, Callable, Literal, Optional, Union

from pydantic import (BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag,
                      ValidationError, create_model, model_validator)
from pydantic_core import PydanticCustomError

from ..errors import OptionError

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
# each key's description, from the docstring that documents it

# the Google-style sections that list keys: a constructor's ``Args:``, a section class's ``Attributes:``
_DOC_SECTION = re.compile(r'(Args|Arguments|Parameters|Params|Keyword Args|Keyword Arguments|Attributes|Keys)\s*:')
# ``name (type): text``, ``name: text``, ``a, b: text`` (both alike) or ``name:`` (text on the lines
# below); ``<...>`` in a name stands for any word (``network_<net>``); ``*args`` stars are dropped
_DOC_NAME = r'\*{0,2}[A-Za-z_<][\w<>]*'
_DOC_ITEM = re.compile(rf'(?P<names>{_DOC_NAME}(?:\s*,\s*{_DOC_NAME})*)\s*(?:\((?:[^()]|\([^()]*\))*\))?\s*:'
                       r'(?:\s+(?P<text>.*))?')


def _clean(doc: Optional[str]) -> str:
    """``inspect.cleandoc``, but lines below a first line are dedented only as far as the first
    line is, so ``\"\"\"Args:`` keeps its items deeper than itself when docstrings are joined."""
    return inspect.cleandoc('\n' + (doc or ''))


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _key_sections(lines: list[str]):
    """``(header index, end index, the items' indent, [(indent, line) ...])`` of each key section
    in ``lines`` (a cleaned docstring).  A section's body is its lines below the header, down to
    the first non-blank line indented no deeper than the header or shallower than its first item;
    a header on the docstring's first line has no indent of its own (cleandoc dedents the lines
    below it)."""
    i = 0
    while i < len(lines):
        start = i
        header = lines[i]
        i += 1
        if not _DOC_SECTION.fullmatch(header.strip()):
            continue
        top = -1 if start == 0 else _indent(header)
        first, body = None, []
        while i < len(lines):
            line = lines[i]
            if line.strip():
                depth = _indent(line)
                if depth <= top or (first is not None and depth < first):
                    break
                first = depth if first is None else first
                body.append((depth, line))
            i += 1
        yield start, i, first, body


def doc_args(doc: Optional[str]) -> dict[str, str]:
    """``{name: description}`` from a docstring's ``Args:`` (or ``Attributes:``, ``Parameters:``,
    ``Keyword Args:`` ...) sections, Google style: an item is ``name (type): text``, ``name: text``
    or ``a, b: text`` at the section's first indent; more deeply indented lines continue it; the
    section ends at the first line indented no deeper than its header (or than its items).  The
    text's lines and spaces are joined into one line.  No such section: ``{}``; a name listed twice
    keeps its first text."""
    if not doc:
        return {}
    out: dict[str, str] = {}

    def keep(names, parts):
        text = ' '.join(' '.join(parts).split())
        for name in names if text else ():
            out.setdefault(name, text)

    for _, _, first, body in _key_sections(inspect.cleandoc(doc).splitlines()):
        names, parts = (), []
        for depth, line in body:
            if depth <= first:  # a new item (or a line that is none: it ends the last)
                keep(names, parts)
                m = _DOC_ITEM.fullmatch(line.strip())
                names = [n.strip().lstrip('*') for n in m.group('names').split(',')] if m else ()
                parts = [m.group('text') or ''] if m else []
            elif names:
                parts.append(line.strip())
        keep(names, parts)
    return out


def doc_without_keys(doc: Optional[str]) -> str:
    """``doc`` without its key sections (``Args:``, ``Attributes:`` ...): a section's description in
    the JSON Schema, whose keys carry their own."""
    lines = inspect.cleandoc(doc or '').splitlines()
    drop = set()
    for start, end, _, _ in _key_sections(lines):
        drop.update(range(start, end))
    text = '\n'.join(line for k, line in enumerate(lines) if k not in drop)
    return re.sub(r'\n{3,}', '\n\n', text).strip()


def _template(key: str):
    """``network_<net>`` as a pattern matching ``network_g`` (its ``<net>`` a named group)."""
    pieces = re.split(r'<(\w+)>', key)
    return re.compile(''.join(re.escape(p) if k % 2 == 0 else f'(?P<{p}>\\w+?)' for k, p in enumerate(pieces)))


def describe(name: str, docs: dict[str, str]) -> Optional[str]:
    """The description of key ``name`` in ``docs`` (:func:`doc_args`): its own entry, else the first
    templated entry (``optim_<net>``) that matches it, with ``<net>`` replaced by what it matched."""
    if name in docs:
        return docs[name]
    for key, text in docs.items():
        if '<' in key:
            m = _template(key).fullmatch(name)
            if m:
                for group, value in m.groupdict().items():
                    text = text.replace(f'<{group}>', value)
                return text
    return None


def class_docs(cls: type) -> dict[str, str]:
    """The keys documented by ``cls``'s docstring and, for keys it leaves out, its bases' (in MRO
    order); a class's ``Options`` section may document its keys in the class's own docstring."""
    docs: dict[str, str] = {}
    for c in cls.__mro__:
        if c is BaseModel or c is object:
            continue
        for k, v in doc_args(c.__dict__.get('__doc__')).items():
            docs.setdefault(k, v)
    return docs


def describe_fields(model: type, docs: Optional[dict] = None) -> None:
    """Give each field of ``model`` that has no description its text from ``docs`` (default: the
    model's and its bases' docstrings); :meth:`Schema.__get_pydantic_json_schema__` writes it into
    the JSON Schema, where an editor shows it on hover (no rebuild of the model is needed)."""
    docs = class_docs(model) if docs is None else docs
    own = inspect.get_annotations(model)  # the fields this class declares itself
    inherited = set().union(*(_FROM_DOCS.get(b, ()) for b in model.__mro__[1:]))
    mine = _FROM_DOCS.setdefault(model, set())
    for name, field in model.model_fields.items():
        # a base's docstring text may give way to this class's; a Field(description=...) may not
        if not field.description or (name in inherited and name not in own):
            text = describe(field.alias or name, docs)
            if text:
                field.description = text
                mine.add(name)


# the fields each model has its descriptions for from docstrings (not from Field(description=...))
_FROM_DOCS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def summary(doc: Optional[str]) -> Optional[str]:
    """A docstring's first paragraph, on one line."""
    first = inspect.cleandoc(doc or '').split('\n\n')[0]
    return ' '.join(first.split()) or None


# ---------------------------------------------------------------------------
# sections


class Schema(BaseModel):
    """An option section: typed fields, no key beyond them.

    ``check(path)`` runs after the whole tree is typed, children first, with the
    section's key path; it raises :class:`OptionError` for what types cannot say.
    """

    model_config = ConfigDict(extra='forbid', protected_namespaces=(), validate_assignment=False,
                              arbitrary_types_allowed=True)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs):
        """Each key's description from the docstrings (``Args:``/``Attributes:``) of the section's
        classes, where the field does not give one (``Field(description=...)``)."""
        super().__pydantic_init_subclass__(**kwargs)
        describe_fields(cls)

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema, handler):
        """The JSON Schema with each field's description as it is now (pydantic reads a field's
        description when it builds the model, before :func:`describe_fields` sets it), and the
        section's own description without the key sections its keys now carry."""
        out = handler(core_schema)
        target = handler.resolve_ref_schema(out)
        if target.get('description'):
            target['description'] = doc_without_keys(target['description'])
            if not target['description']:
                del target['description']
        props = target.get('properties', {})
        for name, field in cls.model_fields.items():
            prop = props.get(field.alias or name)
            if field.description and isinstance(prop, dict):
                prop['description'] = field.description
        return out

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
                 int_bounds: Optional[tuple[int, int]] = None, descriptions: Optional[dict] = None, **extra_fields):
    """A section whose fields are ``{name: (annotation, default)}`` (``inspect.Parameter.empty``
    or ``...``: required), each annotation typed as YAML gives it; ``tag`` fixes ``type``.
    ``int_bounds``: ``(lo, hi)`` for every plain ``int`` parameter that declares no bounds.
    ``doc``: the docstring that documents the parameters; its first paragraph is the section's
    docstring and its ``Args:`` (:func:`doc_args`), then ``descriptions``, describe the fields."""
    docs = {**doc_args(doc), **(descriptions or {})}
    fields: dict[str, Any] = {}
    for pname, (ann, default) in params.items():
        ann = Pair if pname == 'betas' else _plain(ann)
        if int_bounds is not None and ann is Int:
            ann = IntIn(*int_bounds)
        text = describe(pname, docs)
        default = ... if default is inspect.Parameter.empty else default
        fields[pname] = (ann, Field(default, description=text) if text else default)
    first = summary(doc)
    if tag is not None:
        fields['type'] = (Literal[tag], Field(..., description=f'{tag}: {first}' if first else tag))
    fields.update(extra_fields)
    return create_model(name, __base__=base, __doc__=first, **fields)


def signature_model(name: str, fn: Callable, base: type = Spec, skip: tuple = ('self',),
                    tag: Optional[str] = None, int_bounds: Optional[tuple[int, int]] = None,
                    doc: Optional[str] = None, **extra_fields):
    """A section whose fields are ``fn``'s parameters (less ``skip``), typed from its
    annotations; ``tag`` fixes the ``type`` key's value.  Each field's description is the
    parameter's entry in the ``Args:`` of ``doc`` (default: ``fn``'s :func:`docstring`)."""
    sig = inspect.signature(fn)
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception:  # an annotation that names something not importable here
        hints = {}
    params = {n: (hints.get(n, p.annotation), p.default) for n, p in sig.parameters.items()
              if n not in skip and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
    if doc is None:
        doc = docstring(fn)
    return fields_model(name, params, base, tag, doc, int_bounds, **extra_fields)


def docstring(obj) -> str:
    """``obj``'s docstring; for a class, its own, then its base classes' from the same package (a
    base class may document the parameters it takes), then its constructor's: Google style
    documents a constructor's ``Args:`` in the class's docstring or in ``__init__``'s."""
    if not inspect.isclass(obj):
        return _clean(getattr(obj, '__doc__', None))
    package = obj.__module__.split('.')[0]
    mine = [c for c in obj.__mro__ if c.__module__.split('.')[0] == package]  # not torch's nn.Module
    parts = [c.__dict__.get('__doc__') for c in mine]
    owner = next((c for c in obj.__mro__ if '__init__' in c.__dict__), object)
    if owner in mine:
        parts.append(owner.__dict__['__init__'].__doc__)
    return '\n\n'.join(_clean(p) for p in parts if p)


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


def check_roots(value, path: str, required: bool = True):
    """A ``dataroot_*`` that may list several folders (traiNNer-redux's lists): each checked as
    :func:`check_path` (``path[i]`` naming the one missing); a list of one is that one path."""
    if not isinstance(value, list):
        return check_path(value, path, required)
    if not value:
        raise OptionError(f'{path}: an empty list; give a folder, or a list of folders')
    roots = [check_path(v, f'{path}[{i}]') for i, v in enumerate(value)]
    return roots[0] if len(roots) == 1 else roots


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

