"""One storage interface over image folders and BasicSR-layout LMDBs.

``open_storage(root, backend)`` returns a :class:`Storage` mapping keys (file
stems) to encoded image bytes.  An LMDB is opened lazily, read-only and
without locks, once per process, so DataLoader workers never share a handle
inherited over ``fork``.
"""
from __future__ import annotations

import os
import re
from typing import Iterable

from ..errors import DataError
from ..utils.fileio import safe_name
from ..utils.imgio import decode, images_by_stem, list_images, read_bytes

INCOMPLETE_MARKER = '.srkit-incomplete'


class Storage:
    root: str
    keys: list[str]

    def get_bytes(self, key: str) -> bytes:
        raise NotImplementedError

    def describe(self, key: str) -> str:
        """A human name for ``key`` in error messages (path or lmdb:key)."""
        raise NotImplementedError

    def read(self, key: str):
        """``(H,W,3) RGB float32 in [0,1]``."""
        return decode(self.get_bytes(key), self.describe(key)).rgb

    def __contains__(self, key):
        return key in self._keyset

    def __len__(self):
        return len(self.keys)


class FolderStorage(Storage):
    """Images directly in ``root``, keyed by stem; or, with ``relpaths`` (a meta_info list, as
    Real-ESRGAN's: paths relative to ``root``, subfolders allowed), exactly those files, keyed
    by their relative path without the extension."""

    def __init__(self, root: str, relpaths: list[str] | None = None):
        self.root = root
        if relpaths is not None:
            self._files = {}
            for rel in relpaths:
                key = os.path.splitext(safe_name(rel.replace(os.sep, '/'), f'{root}: meta_info path'))[0]
                if key in self._files:
                    raise DataError(f'{root}: two images share the name {key!r} ({self._files[key]} and {rel})')
                self._files[key] = rel
            self.keys = list(self._files)
            self._keyset = set(self.keys)
            return
        self._files: dict[str, str] = images_by_stem(root)
        if not self._files:
            raise DataError(f'{root}: no images found')
        self.keys = list(self._files)
        self._keyset = set(self.keys)

    def path(self, key: str) -> str:
        return os.path.join(self.root, self._files[key])

    def get_bytes(self, key):
        if key not in self._files:
            raise DataError(f'{self.root}: no image named {key!r}')
        return read_bytes(self.path(key))

    def describe(self, key):
        return self.path(key) if key in self._files else f'{self.root}/{key}'


# BasicSR's line: "name.png (h,w,c) compress_level"; the name may hold spaces (srkit's keys do),
# so it is everything before the shape.  A line without a shape (Real-ESRGAN's lists) is the name.
_META_LINE = re.compile(r'^(.*?\S) \((\d+),\s*(\d+),\s*(\d+)\)(?: \d+)?$')


MAX_META_INFO_BYTES = 1 << 28  # 256 MiB: a line per image for some millions of images


def read_meta_info(path: str) -> list[tuple[str, str]]:
    """Return ``[(key, line)]`` from a BasicSR ``meta_info.txt`` (UTF-8); the key is the stem."""
    out = []
    try:  # read capped, and only a regular file: a meta_info option could name /dev/zero
        lines = read_bytes(path, MAX_META_INFO_BYTES).decode('utf-8').splitlines()
    except UnicodeDecodeError as e:
        raise DataError(f'{path}: not UTF-8 text (byte {e.start}); a meta_info file lists names, '
                        'one per line') from None
    for line in lines:
        line = line.strip()
        if not line:
            continue
        name = meta_name(line)
        # BasicSR cuts the key at the first '.' (and the line at the first space), which breaks
        # names like a.b.png or "my photo.png"; the stem equals BasicSR's key for ordinary names
        out.append((os.path.splitext(name)[0], line))
    return out


def meta_name(line: str) -> str:
    """The file name of a meta_info line (BasicSR's or a bare path)."""
    m = _META_LINE.match(line)
    return m.group(1) if m else line


class LmdbStorage(Storage):
    def __init__(self, root: str, meta_info_file: str | None = None):
        self.root = root
        if not os.path.isdir(root) or not os.path.exists(os.path.join(root, 'data.mdb')):
            raise DataError(f'{root}: not an LMDB folder (no data.mdb)')
        if os.path.exists(os.path.join(root, INCOMPLETE_MARKER)):
            raise DataError(f'{root}: incomplete LMDB (an interrupted srkit-lmdb); re-run srkit-lmdb to finish it')
        meta = meta_info_file or os.path.join(root, 'meta_info.txt')
        if not os.path.exists(meta):
            raise DataError(f'{root}: no meta_info.txt (not a finished BasicSR-layout LMDB)')
        # keys become output names (srkit-degrade, validation images): none may leave the output
        self.keys = [safe_name(k, f'{root}: LMDB key') for k, _ in read_meta_info(meta)]
        self._keyset = set(self.keys)
        self._env = None
        self._pid = None

    def _open(self):
        import lmdb
        if self._env is None or self._pid != os.getpid():
            self._env = lmdb.open(self.root, readonly=True, lock=False, readahead=False,
                                  meminit=False, max_readers=512)
            self._pid = os.getpid()
        return self._env

    def get_bytes(self, key):
        with self._open().begin(write=False) as txn:
            buf = txn.get(key.encode('utf-8'))
        if buf is None:
            raise DataError(f'{self.describe(key)}: key missing from the LMDB')
        return bytes(buf)

    def describe(self, key):
        return f'{self.root}:{key}'

    def __getstate__(self):
        # never pickle an open environment into a worker
        d = dict(self.__dict__)
        d['_env'] = None
        d['_pid'] = None
        return d


class ConcatStorage(Storage):
    """Several folders or LMDBs read as one set (traiNNer-redux's lists of ``dataroot_*``): the
    image ``key`` of the ``i``-th is ``'<i>/<key>'``, so the same name in two folders stays two
    images, and a GT list pairs with an LQ list folder by folder (``filename_tmpl`` applies to
    the whole key: ``'{}x4'`` maps ``0/a`` to ``0/ax4``)."""

    def __init__(self, parts: list[Storage]):
        self.parts = parts
        self.root = ', '.join(p.root for p in parts)
        self.keys = [f'{i}/{k}' for i, p in enumerate(parts) for k in p.keys]
        self._keyset = set(self.keys)

    def _split(self, key: str) -> tuple[Storage, str]:
        i, _, inner = key.partition('/')
        return self.parts[int(i)], inner

    def get_bytes(self, key):
        if key not in self._keyset:
            raise DataError(f'{self.root}: no image named {key!r}')
        part, inner = self._split(key)
        return part.get_bytes(inner)

    def describe(self, key):
        if key not in self._keyset:
            return f'{self.root}: {key}'
        part, inner = self._split(key)
        return part.describe(inner)


def open_storage(root, backend: str = 'auto', meta_info_file: str | None = None) -> Storage:
    """The images of ``root`` (a folder, an LMDB, or a list of them: :class:`ConcatStorage`)."""
    if isinstance(root, (list, tuple)):
        if meta_info_file:  # the options refuse this; a library caller gets the same line
            raise DataError(f'{meta_info_file}: a meta_info file lists the images of one folder, '
                            f'not of {len(root)}')
        return ConcatStorage([open_storage(r, backend) for r in root])
    if backend == 'auto':
        backend = 'lmdb' if root.rstrip('/').endswith('.lmdb') else 'disk'
    if backend == 'lmdb':
        return LmdbStorage(root, meta_info_file)
    if meta_info_file:
        names = [meta_name(line) for _, line in read_meta_info(meta_info_file)]
        if not names:
            raise DataError(f'{meta_info_file}: lists no images')
        if any('/' in n for n in names) or not list_images(root):
            # Real-ESRGAN's meta_info: paths relative to the root, from one or several subfolders
            missing = [n for n in names if not os.path.isfile(os.path.join(root, n))]
            if missing:
                raise DataError(f'{meta_info_file}: lists {len(missing)} image(s) missing from {root}, e.g. '
                                f'{os.path.join(root, missing[0])} (meta_info paths are relative to dataroot_gt)')
            return FolderStorage(root, names)
    st = FolderStorage(root)
    if meta_info_file:
        wanted = [k for k, _ in read_meta_info(meta_info_file)]
        missing = [k for k in wanted if k not in st]
        if missing:
            raise DataError(f'{meta_info_file}: lists {len(missing)} image(s) missing from {root}, e.g. {missing[0]!r}')
        st.keys = wanted
        st._keyset = set(wanted)
    return st


def check_same_keys(a: Storage, b: Storage, names: Iterable[str]) -> None:
    """Raise DataError naming the first key present in one storage but not the other."""
    na, nb = names
    only_a = [k for k in a.keys if k not in b]
    only_b = [k for k in b.keys if k not in a]
    if only_a:
        raise DataError(f'{na} has {len(only_a)} image(s) with no match in {nb}, e.g. {a.describe(only_a[0])}')
    if only_b:
        raise DataError(f'{nb} has {len(only_b)} image(s) with no match in {na}, e.g. {b.describe(only_b[0])}')
