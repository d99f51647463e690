"""Tell a network's architecture from a bare state dict: a loop over what each registered
architecture declares (``detect`` and ``convert_keys``, see :class:`srkit.archs.util.Arch`)."""
from __future__ import annotations

from ..errors import UserError
from ..registry import ARCH_REGISTRY


def identify(sd: dict, path: str = 'checkpoint') -> tuple[dict, dict]:
    """``({type, **kwargs}, state dict in that architecture's own keys)`` from key names
    and shapes; :class:`UserError` naming the file when no architecture claims it."""
    # the entries not yet imported are spandrel's and basicsr's classes (srkit.archs.upstream), which
    # declare no detection: spandrel tells its own files apart (srkit.inference.SpandrelNet)
    for name in ARCH_REGISTRY.keys(loaded=True):
        cls = ARCH_REGISTRY.get(name)
        convert, detect = getattr(cls, 'convert_keys', None), getattr(cls, 'detect', None)
        if detect is None:
            continue
        own = convert(sd) if convert else sd
        kwargs = detect(own)
        if kwargs is not None:
            return {'type': name, **kwargs}, own
    raise UserError(f'{path}: cannot tell the architecture from its keys (no srkit metadata); '
                    f'first keys: {", ".join(list(sd)[:4])}')


def detect_arch(sd: dict, path: str = 'checkpoint') -> dict:
    """``{type, **kwargs}`` of the architecture whose keys ``sd`` has."""
    return identify(sd, path)[0]
