"""How library functions name the fields of a request in their error messages.

A library function names a field by itself (``input``, ``hr_output``); a caller with its own
vocabulary (a command line maps each field to its flag) names them its way for the duration of a
call with :func:`field_names`, so the library never spells a flag::

    with field_names(flags_of_my_parser):
        result = degrade_folder(job)
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator, Mapping, Optional

_NAMES: ContextVar[Mapping[str, str]] = ContextVar('srkit_field_names', default={})


@contextmanager
def field_names(names: Optional[Mapping[str, str]]) -> Iterator[None]:
    """Within the block, messages name each field of ``names`` as it maps it (others: themselves)."""
    token = _NAMES.set(dict(names or {}))
    try:
        yield
    finally:
        _NAMES.reset(token)


def name(field: str) -> str:
    """``field`` as messages name it now: the caller's word for it, else the field itself."""
    return _NAMES.get().get(field, field)
