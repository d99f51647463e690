"""Duplicate tiles: exact copies by a content hash, near copies by a perceptual hash.

The near-copy search works through an index, not all pairs: a 64-bit hash is cut into
``distance + 1`` bands, and two hashes within ``distance`` bits agree on at least one band
(the pigeonhole principle), so only tiles sharing a band value are compared.  Then, best
tile first, each tile is kept unless it is within ``distance`` of a tile already kept.
"""
from __future__ import annotations

import hashlib
from typing import Optional

import numpy as np

HASH_BITS = 64
DEFAULT_DISTANCE = 6
# beyond this the bands are narrower than 6 bits and each is shared by a sixty-fourth of the tiles
# or more: the search nears all pairs (and a 64-bit pHash starts to match unrelated pictures)
MAX_DISTANCE = 10


def content_hash(u8: np.ndarray) -> str:
    """sha256 of the pixels and their shape: equal for the same tile decoded from any file."""
    h = hashlib.sha256(repr(u8.shape).encode())
    h.update(np.ascontiguousarray(u8).tobytes())
    return h.hexdigest()


def phash(u8: np.ndarray) -> int:
    """The 64-bit perceptual hash of ``(H,W,3) RGB uint8`` (ImageHash's ``phash``: the signs of the
    8x8 lowest DCT frequencies of a 32x32 grey thumbnail against their median), as an int."""
    import imagehash
    from PIL import Image
    bits = imagehash.phash(Image.fromarray(u8)).hash.reshape(-1)
    return int(''.join('1' if b else '0' for b in bits), 2)


def _popcount(x: np.ndarray) -> np.ndarray:
    """Set bits per ``uint64`` (numpy 2's ``bitwise_count``; byte unpacking before it)."""
    if hasattr(np, 'bitwise_count'):
        return np.bitwise_count(x)
    return np.unpackbits(x.view(np.uint8).reshape(*x.shape, 8), axis=-1).sum(-1)


def _bands(distance: int) -> list[tuple[int, int]]:
    """``distance + 1`` bit ranges ``(shift, width)`` covering the 64 bits."""
    n = distance + 1
    edges = [round(i * HASH_BITS / n) for i in range(n + 1)]
    return [(edges[i], edges[i + 1] - edges[i]) for i in range(n)]


def near_pairs(hashes: np.ndarray, distance: int, block: int = 2048) -> set[tuple[int, int]]:
    """Every pair ``(i, j)``, ``i < j``, of distinct ``uint64`` hashes within ``distance`` bits."""
    out: set[tuple[int, int]] = set()
    n = len(hashes)
    if n < 2:
        return out
    for shift, width in _bands(distance):
        key = (hashes >> np.uint64(shift)) & np.uint64((1 << width) - 1)
        order = np.argsort(key, kind='stable')
        ks = key[order]
        cuts = np.flatnonzero(np.diff(ks)) + 1
        for grp in np.split(order, cuts):
            if len(grp) < 2:
                continue
            g = hashes[grp]
            for a in range(0, len(grp), block):  # memory bounded by block x group
                d = _popcount(g[a:a + block, None] ^ g[None, :])
                ii, jj = np.nonzero(d <= distance)
                for i, j in zip(grp[a + ii].tolist(), grp[jj].tolist()):
                    if i < j:
                        out.add((i, j))
    return out


def keep_best(order: list[int], exact: list[str], hashes: Optional[list[int]], distance: int
              ) -> dict[int, tuple[int, int]]:
    """Which tiles are duplicates: ``{tile: (the kept tile it copies, distance)}``.

    ``order``: the tiles to consider, best first; ``exact``: every tile's content hash;
    ``hashes``: every tile's perceptual hash (``None``: exact copies only)."""
    dup: dict[int, tuple[int, int]] = {}
    first: dict[str, int] = {}
    rest = []
    for t in order:
        if exact[t] in first:
            dup[t] = (first[exact[t]], 0)
        else:
            first[exact[t]] = t
            rest.append(t)
    if hashes is None or len(rest) < 2:
        return dup
    # identical perceptual hashes collapse first, so the pair search sees each value once
    by_value: dict[int, int] = {}
    uniq = []
    for t in rest:
        if hashes[t] in by_value:
            dup[t] = (by_value[hashes[t]], 0)
        else:
            by_value[hashes[t]] = t
            uniq.append(t)
    arr = np.array([hashes[t] for t in uniq], dtype=np.uint64)
    neighbours: dict[int, list[int]] = {}
    for i, j in near_pairs(arr, distance):
        neighbours.setdefault(i, []).append(j)
        neighbours.setdefault(j, []).append(i)
    kept: set[int] = set()
    for i, t in enumerate(uniq):  # best first: a tile goes when a better one near it stays
        near = [j for j in neighbours.get(i, ()) if j in kept]
        if near:
            j = min(near, key=lambda k: (bin(int(arr[i]) ^ int(arr[k])).count('1'), k))
            dup[t] = (uniq[j], bin(int(arr[i]) ^ int(arr[j])).count('1'))
        else:
            kept.add(i)
    return dup
