"""Atomic file writes: a reader (or a killed writer) never sees a half-written file."""
from __future__ import annotations

import contextlib
import os
import tempfile

from ..config import is_safe_name
from ..errors import DataError, UserError
from . import naming


@contextlib.contextmanager
def atomic_path(path: str, inputs: tuple = (), what: str = 'output'):
    """Yield a temporary path beside ``path``; rename it over ``path`` on success.  A write that
    fails for want of space (or permission) is one line naming the folder; the temporary is
    removed and whatever ``path`` held before is left as it was.

    ``path`` is refused first (:func:`check_replaceable`) when it is one of ``inputs`` or an
    existing non-regular file (a device, FIFO, socket or folder).  Temporaries are named
    ``.<name>.<pid>.<random>.tmp``; those of dead processes (a kill -9) are removed here."""
    check_replaceable(path, inputs, what)
    d = os.path.dirname(os.path.abspath(path)) or '.'
    try:
        os.makedirs(d, exist_ok=True)
        remove_dead_temps(path)
        fd, tmp = tempfile.mkstemp(prefix=f'.{_temp_stem(os.path.basename(path))}.{os.getpid()}.', suffix='.tmp',
                                   dir=d)
    except OSError as e:
        raise UserError(write_failure(e, d, path) or f'{d}: cannot write there ({e.strerror})') from None
    os.close(fd)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        # mkstemp makes 0600, and some writers (safetensors) create the file anew: normal permissions
        os.chmod(tmp, 0o666 & ~umask)
        with open(tmp, 'rb') as f:
            os.fsync(f.fileno())
        check_replaceable(path, inputs, what)  # nothing came in the way meanwhile
        os.replace(tmp, path)
    except (OSError, RuntimeError) as e:
        msg = write_failure(e, d, path)
        if msg is None:
            raise
        raise UserError(msg) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _file_kind(mode: int) -> str:
    import stat
    for test, name in ((stat.S_ISDIR, 'a folder'), (stat.S_ISCHR, 'a character device'),
                       (stat.S_ISBLK, 'a block device'), (stat.S_ISFIFO, 'a FIFO'), (stat.S_ISSOCK, 'a socket')):
        if test(mode):
            return name
    return 'not a regular file'


def same_file(a: str, b: str) -> bool:
    """Whether the paths ``a`` and ``b`` name one file: the same real path, or the same inode
    (a hard link)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_replaceable(path: str, inputs=(), what: str = 'output') -> None:
    """Refuse, with one line, to write the file ``path`` over one of ``inputs`` (compared as real
    paths and inodes) or over an existing non-regular file: a device such as ``/dev/null``, a
    FIFO, a socket or a folder would be renamed away and replaced.  A symbolic link is itself
    replaced (never followed), so one is fine unless it leads to an input."""
    import stat
    for inp in inputs:
        if inp and os.path.lexists(path) and same_file(path, inp):
            raise UserError(f'{what} {path}: is the input {inp}; writing it would replace the input, '
                            'so choose another name')
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return
    except OSError as e:
        raise UserError(f'{what} {path}: cannot check it ({e.strerror})') from None
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
        raise UserError(f'{what} {path}: exists and is {_file_kind(st.st_mode)}, which srkit never replaces; '
                        'give the path of a new or regular file')


def _temp_stem(name: str) -> str:
    """``name`` as it starts its temporaries' names: whole when short, else its first 100 bytes and
    a hash of the rest, so a name at the file system's 255-byte limit can still be written."""
    raw = os.fsencode(name)
    if len(raw) <= 160:
        return name
    import hashlib
    return f'{os.fsdecode(raw[:100])}~{hashlib.sha256(raw).hexdigest()[:16]}'


def remove_dead_temps(path: str) -> int:
    """Delete the temporaries ``.<name>.<pid>.<random>.tmp`` that writes of ``path`` by processes
    now gone (killed) left beside it; a live writer's are kept.  Returns how many."""
    import glob
    import re
    d, base = os.path.split(os.path.abspath(path))
    base = _temp_stem(base)
    pat = re.compile(r'(\d+)\.[A-Za-z0-9_]+\.tmp')
    n = 0
    for t in glob.glob(os.path.join(glob.escape(d), f'.{glob.escape(base)}.*.tmp')):
        m = pat.fullmatch(os.path.basename(t)[len(base) + 2:])
        if m and int(m.group(1)) != os.getpid() and not pid_alive(int(m.group(1))):
            with contextlib.suppress(OSError):
                os.unlink(t)
                n += 1
    return n


def write_failure(e: BaseException, folder: str, path: str):
    """One line for a failed write, or None when ``e`` is not about the disk: no space (ENOSPC,
    a quota, or torch's ``unexpected pos`` when its writer hits a full disk), a file too large
    for the file system, no permission."""
    import errno
    import shutil
    no_space = isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT)
    if isinstance(e, RuntimeError):
        text = str(e)
        if not any(s in text for s in ('unexpected pos', 'file write failed', 'No space left')):
            return None
        with contextlib.suppress(OSError):
            no_space = no_space or shutil.disk_usage(folder).free < (64 << 20)
        if not no_space:
            return f'{path}: writing failed ({text.strip().splitlines()[0][:160]})'
    if no_space:
        return f'no space left on {folder} (writing {os.path.basename(path)}); free some space and run again'
    if isinstance(e, OSError) and e.errno == errno.EFBIG:
        return f'{path}: too large for the file system of {folder}'
    if isinstance(e, OSError) and e.errno in (errno.ENOTDIR, errno.EEXIST):
        return f'{folder}: a file is in the way (the output needs a folder there)'
    if isinstance(e, OSError) and e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f'{folder}: cannot write there ({e.strerror})'
    return None


def check_free_space(folder: str, needed: int, what: str) -> None:
    """Refuse, before writing, ``what`` of about ``needed`` bytes into ``folder`` when the file
    system has less free (as neosr does before a checkpoint): nothing half-written, one line."""
    import shutil
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return
    if free < needed:
        raise UserError(f'no space left on {folder}: {what} needs ~{needed / 2**20:.1f} MB, '
                        f'{free / 2**20:.1f} MB free; free some space and run again '
                        f'({naming.name("auto_resume")} continues)')


def safe_name(name: str, what: str) -> str:
    """``name`` unchanged when, joined to any folder, it stays inside that folder
    (:func:`srkit.config.is_safe_name`).  Names taken from data (LMDB keys, meta_info lines)
    become output paths, so one such as ``../../x`` or ``/etc/x`` is refused with one line
    naming ``what`` it is."""
    if not is_safe_name(name):
        raise DataError(f'{what} {name!r}: not a safe relative name (absolute, empty, or with "..": '
                        'it would be written outside the output folder)')
    return name


def join_inside(root: str, name: str, what: str) -> str:
    """``os.path.join(root, name)`` for a ``name`` that :func:`safe_name` accepts."""
    return os.path.join(root, safe_name(name, what))


def check_apart(output: str, inputs: list[str], what: str | None = None) -> None:
    """Refuse an ``output`` folder that is, or lies inside, one of the ``inputs`` (folders or
    files' folders are compared as real paths): its outputs would replace the inputs."""
    what = what or naming.name('output')  # the field as the caller names it (a command line: its flag)
    out = os.path.realpath(output)
    for inp in inputs:
        if not inp:
            continue
        r = os.path.realpath(inp)
        if out == r or out.startswith(r.rstrip(os.sep) + os.sep):
            raise UserError(f'{what} {output}: is or lies inside the input {inp}, whose images it would '
                            'overwrite; write to another folder')


def make_output_dir(path: str, what: str | None = None) -> str:
    """Create the output folder ``path`` (and its parents), or one line saying why not: a file is
    in the way, or the folder cannot be written."""
    what = what or naming.name('output')  # the field as the caller names it (a command line: its flag)
    if os.path.exists(path) and not os.path.isdir(path):
        raise UserError(f'{what} {path}: exists and is not a folder')
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise UserError(f'{what} {path}: cannot create the folder ({e.strerror or type(e).__name__})') from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise UserError(f'{what} {path}: the folder is not writable')
    return path


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this host (a stale lock or staging folder has none)."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:
        return True
    return True


def check_folder_replaceable(out: str, marker: str, what: str | None = None, inputs=()) -> None:
    """Refuse, with one line, to replace the folder ``out`` unless it is new, empty, or holds
    ``marker`` (the file the same tool leaves in what it wrote): a user's folder, the working
    directory, or a folder holding one of ``inputs`` (or the working directory) is never
    swapped away."""
    what = what or naming.name('out')  # the field as the caller names it (a command line: its flag)
    out = os.path.realpath(out)
    for p in [os.getcwd(), *[i for i in inputs if i]]:
        r = os.path.realpath(p)
        if r == out or r.startswith(out.rstrip(os.sep) + os.sep):
            who = 'the working directory' if p == os.getcwd() else f'the input {p}'
            raise UserError(f'{what} {out}: holds {who}, and this folder is replaced whole; '
                            'write it elsewhere')
    if os.path.lexists(out):
        if os.path.islink(out) or not os.path.isdir(out):
            raise UserError(f'{what} {out}: exists and is not a folder')
        try:
            held = os.listdir(out)
        except OSError as e:
            raise UserError(f'{what} {out}: cannot read the folder ({e.strerror})') from None
        if held and not os.path.isfile(os.path.join(out, marker)):
            raise UserError(f'{what} {out}: an existing folder this tool did not write (no {marker} in it), '
                            'and it would be replaced whole; give a new or empty folder (a report from an '
                            'srkit before the marker: delete it first)')


@contextlib.contextmanager
def staged_folder(out: str, what: str | None = None, reuse: tuple[str, ...] = (), marker: str = '.srkit-output',
                  inputs=()):
    """Build the folder ``out`` in ``.<name>.partial-<pid>`` beside it and swap it in whole on
    success, so a killed or failed run leaves the previous ``out`` as it was (and a reader never
    sees a folder whose files disagree).  Staging folders of dead runs are removed first.
    ``reuse``: subfolders of the old ``out`` hard-linked into the new one to start from (files
    are replaced by rename, never written in place, so the old copies stay intact).
    An existing ``out`` is replaced only when it holds ``marker``, which the new folder gets
    (:func:`check_folder_replaceable`)."""
    import glob
    import shutil
    what = what or naming.name('out')  # the field as the caller names it (a command line: its flag)
    check_folder_replaceable(out, marker, what, inputs)
    out = os.path.abspath(out)
    parent, base = os.path.dirname(out), os.path.basename(out)
    make_output_dir(parent, what)
    for old in glob.glob(os.path.join(parent, f'.{glob.escape(base)}.old-*')):
        pid = old.rsplit('-', 1)[-1]
        if pid.isdigit() and not pid_alive(int(pid)):
            # killed mid-swap: its staging folder was complete (the old one moves only then)
            done = os.path.join(parent, f'.{base}.partial-{pid}')
            if not os.path.exists(out) and os.path.isdir(done):
                os.rename(done, out)
            shutil.rmtree(old, ignore_errors=True)
    for stale in glob.glob(os.path.join(parent, f'.{glob.escape(base)}.partial-*')):
        pid = stale.rsplit('-', 1)[-1]
        if not pid.isdigit() or not pid_alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    work = os.path.join(parent, f'.{base}.partial-{os.getpid()}')
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    for sub in reuse:
        if os.path.isdir(os.path.join(out, sub)):
            shutil.copytree(os.path.join(out, sub), os.path.join(work, sub), copy_function=os.link)
    try:
        yield work
        with open(os.path.join(work, marker), 'w') as f:
            f.write('written by srkit; the tool that wrote this folder may replace it whole\n')
        check_folder_replaceable(out, marker, what, inputs)  # nothing came in its place meanwhile
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    old = os.path.join(parent, f'.{base}.old-{os.getpid()}')
    if os.path.exists(out):
        os.rename(out, old)
    os.rename(work, out)
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def folder_lock(path: str, what: str, tag: str = ''):
    """Hold ``.<name>.lock`` beside the folder ``path`` while one writer (``what``: srkit-train,
    srkit-degrade) works in it; a second writer is refused with one line naming the holder's PID
    and host.  A lock whose process is gone (killed) on this host is stale and taken over.  The
    lock sits beside the folder, so it also guards moving the folder aside (an archived run)."""
    import json
    import socket
    import time
    path = os.path.abspath(path.rstrip('/'))
    lock = os.path.join(os.path.dirname(path), f'.{os.path.basename(path)}{tag}.lock')
    make_output_dir(os.path.dirname(lock), 'output folder')
    me = {'pid': os.getpid(), 'host': socket.gethostname(), 'started': time.strftime('%Y-%m-%d %H:%M:%S'),
          'what': what}
    for _ in range(3):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if os.path.isdir(lock) or (os.path.exists(lock) and not os.path.isfile(lock)):
                raise UserError(f'{path}: its lock {lock} is in the way (not a lock file); remove it') from None
            holder = _lock_holder(lock)
            if holder is None:
                continue  # released meanwhile
            if holder == {} and _lock_text(lock).strip():  # text srkit never writes: a user's file, kept
                raise UserError(f'{path}: {lock} is not a lock srkit wrote; move it away') from None
            pid, host = holder.get('pid'), holder.get('host', me['host'])
            # stale: its process is gone, or is this one (an earlier run in this process that failed),
            # or the file was torn by a kill while being written
            if host == me['host'] and (not isinstance(pid, int) or pid == me['pid'] or not pid_alive(pid)):
                if _lock_holder(lock) == holder:  # still the stale one, not a new holder's
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(lock)
                continue
            raise UserError(f'{path}: {holder.get("what", "another run")} (pid {pid} on {host}, since '
                            f'{holder.get("started", "?")}) is writing it; wait for it to finish, or stop it '
                            f'(a lock left by a process that is gone is taken over: {lock})') from None
        except OSError as e:
            raise UserError(f'{path}: cannot create its lock file {lock} ({e.strerror})') from None
        with os.fdopen(fd, 'w') as f:
            f.write(json.dumps(me))
        break
    else:
        raise UserError(f'{path}: could not take the lock {lock}; try again')
    try:
        yield lock
    finally:
        if (_lock_holder(lock) or {}).get('pid') == me['pid']:
            with contextlib.suppress(OSError):
                os.unlink(lock)


def _lock_text(lock: str) -> str:
    """The lock file's text (a few bytes: a lock is one small JSON object), '' when unreadable."""
    try:
        with open(lock, 'rb') as f:
            data = f.read(4096)
    except OSError:
        return ''
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError:
        return 'x'  # bytes srkit never writes
    text = text.strip('\0').strip()  # zeros: the tail a crash can leave
    # a JSON object torn by a kill ({"pid": 1, ...) is ours; anything else is not
    return '' if text.startswith('{') else text


def _lock_holder(lock: str) -> dict | None:
    """The lock file's JSON (``{}`` when torn or unreadable), or None when there is no file."""
    import json
    try:
        with open(lock) as f:
            holder = json.loads(f.read())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def remove_stale_temps(folder: str) -> int:
    """Delete the temporaries of atomic writes (``.<name>.*.tmp``) a SIGKILL left in ``folder`` and
    its subfolders; only for a folder this process holds the lock of.  Returns how many."""
    n = 0
    for root, _dirs, files in os.walk(folder):
        for f in files:
            if f.startswith('.') and f.endswith('.tmp'):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(root, f))
                    n += 1
    return n


def atomic_write_bytes(path: str, data: bytes, inputs: tuple = (), what: str = 'output') -> None:
    with atomic_path(path, inputs, what) as tmp:
        with open(tmp, 'wb') as f:
            f.write(data)


def atomic_write_text(path: str, text: str, inputs: tuple = (), what: str = 'output') -> None:
    atomic_write_bytes(path, text.encode(), inputs, what)


MAX_TEXT_BYTES = 1 << 30  # a list, manifest or state file: a line per image for millions of images


def read_file(path: str, limit: int = MAX_TEXT_BYTES, hint: str = '') -> bytes:
    """The bytes of the regular file ``path``, read only after its size is checked against
    ``limit`` (a DataError naming the file, ``hint`` appended).  A device (``/dev/zero``), FIFO or
    socket, also behind a symbolic link, is refused without being opened: one would never end,
    or never answer, and opening some devices does something."""
    import stat
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise DataError(f'{path}: not a regular file (a device, FIFO or socket); skipped')
        # O_NONBLOCK: a FIFO swapped in after the check must not block the open
        fd = os.open(path, os.O_RDONLY | getattr(os, 'O_NONBLOCK', 0) | getattr(os, 'O_CLOEXEC', 0))
    except OSError as e:
        raise DataError(f'{path}: cannot read ({e.strerror})') from None
    with os.fdopen(fd, 'rb') as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise DataError(f'{path}: not a regular file (a device, FIFO or socket); skipped')
        if st.st_size > limit:
            raise DataError(f'{path}: {st.st_size} bytes is over the limit of {limit} bytes for one file{hint}')
        try:
            # the size read, plus one byte to see growth (read(n) allocates n bytes up front)
            data = f.read(st.st_size + 1)
        except OSError as e:
            raise DataError(f'{path}: cannot read ({e.strerror})') from None
    if len(data) > st.st_size:
        raise DataError(f'{path}: grew while being read; read it again once it is written')
    return data


def read_text(path: str, limit: int = MAX_TEXT_BYTES) -> str:
    """:func:`read_file` as UTF-8 text (a BOM dropped); a file that is not UTF-8 is one line."""
    data = read_file(path, limit)
    try:
        return data.decode('utf-8-sig')
    except UnicodeDecodeError as e:
        raise DataError(f'{path}: not UTF-8 text (byte {e.start})') from None


def read_jsonl(path: str) -> list[dict]:
    """The records of a JSON-lines log; a line torn by a kill (or a missing file) is skipped."""
    import json
    out = []
    if os.path.exists(path):
        for line in read_file(path).decode('utf-8', 'replace').splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out
