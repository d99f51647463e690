"""How the process's C allocator treats the large buffers tensors on the CPU live in.

glibc's malloc serves a block above its mmap threshold (128 KiB, rising to at most 32 MiB)
with a fresh ``mmap`` and hands it back to the kernel when freed, and it trims the heap's top
above 128 KiB.  A network's feature maps are such blocks (64 channels of a 512² image in
float32: 64 MiB), allocated and freed once per layer, so each layer's output is new memory
the kernel must fault in and zero, page by page: on the 2-core CPU of docs/benchmarks.md that
took half the time of realesr-animevideov3 on a 512² image and a sixth of a training step.
Keeping freed memory in the heap lets the next layer reuse it as it is.

The price is peak memory: glibc (2.36) cannot hand a freed block back to ``posix_memalign``
(torch's allocator) for a request of the same size, so the heap settles some maps above what is
live (+0 to +29% on tiled srkit-infer runs, docs/benchmarks.md).  ``SRKIT_KEEP_FREED_MEMORY=0``
leaves glibc as it comes: less memory, slower.  Only the main thread's heap takes it: glibc's
other threads' arenas still map blocks of 64 MiB and more on their own (srkit allocates tensors
on the main thread).
"""
from __future__ import annotations

import ctypes
import os

from ..errors import UserError

# mallopt(3)'s parameters (glibc's malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4

# The free memory at the heap's top that the process keeps instead of returning it: several
# feature maps' worth (a 512² map of 64 float32 channels is 64 MiB).  Only memory already used
# and freed is kept, and it is reused before the heap grows (as far as glibc can: see above).
KEEP_BYTES = 256 << 20
ENV = 'SRKIT_KEEP_FREED_MEMORY'

_done: bool | None = None


def keep_freed_memory() -> bool:
    """Make glibc's malloc keep freed memory for reuse (no ``mmap`` per large block, no trim
    below ``KEEP_BYTES``), once per process; the command-line tools that run networks call it
    first.  Returns whether glibc's malloc was told to: False where the C library is not glibc
    (musl, macOS, Windows), which is left as it is, or where ``SRKIT_KEEP_FREED_MEMORY`` is 0
    (empty or unset: 1; anything else is a :class:`UserError`).  A malloc preloaded in glibc's
    place (jemalloc, tcmalloc) keeps its own ways.  Where the heap cannot grow, glibc still
    falls back to ``mmap``, so no allocation fails for it."""
    global _done
    if _done is None:
        wanted = os.environ.get(ENV, '').strip() or '1'
        if wanted not in ('0', '1'):
            raise UserError(f'{ENV}={wanted!r}: expected 1 (keep freed memory for reuse: the default) or 0 (glibc\'s '
                            'malloc as it comes: less peak memory, slower on the CPU)')
        _done = False
        if wanted == '0':
            return False
        try:
            libc = ctypes.CDLL(None)  # the interpreter's own symbols, its C library's among them
        except (OSError, TypeError):  # Windows has no CDLL(None)
            return False
        # gnu_get_libc_version is glibc's own: another C library's mallopt numbers its parameters otherwise
        if not (hasattr(libc, 'mallopt') and hasattr(libc, 'gnu_get_libc_version')):
            return False
        mallopt = libc.mallopt
        mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
        _done = bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, KEEP_BYTES))
    return _done
