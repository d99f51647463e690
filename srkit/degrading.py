"""Degrade a folder of HR images into an LR set: :func:`degrade_folder` takes a
:class:`DegradeJob` and returns a :class:`DegradeResult` (the work behind ``srkit-degrade`` and
``srkit-eval``'s degraded LQ).  See :mod:`srkit.cli.degrade` for the behaviour: per-image seeds,
manifests, shards, resume, LMDB staging and packing.  :func:`build_lmdb` writes (and checks)
an image folder as an LMDB (``srkit-lmdb``).

Nothing here prints: counts, skipped images and what was packed come back in the result, and
progress through an optional ``progress(stage, done, total)`` callback.  Messages name the
job's fields (``hr_output``); a command line maps them to its flags
(:func:`srkit.utils.naming.field_names`).
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import Callable, Optional

import numpy as np
from .config import check_degradation
from .errors import DataError, UserError
from .utils.fileio import check_apart, folder_lock, make_output_dir, read_file
from .utils.naming import name

Progress = Callable[[str, int, int], None]  # (stage, done, total), e.g. a progress bar's update


def image_seed(seed: int, key: str) -> int:
    """A 63-bit seed from the run seed and the image name (stable across runs and machines)."""
    return int.from_bytes(hashlib.sha256(f'{seed}:{key}'.encode()).digest()[:8], 'little') >> 1


def parse_shard(text: str | tuple[int, int] | None) -> tuple[int, int]:
    """``(i, n)`` from ``'i/n'`` (or a pair); ``None``: torchrun's RANK and WORLD_SIZE, else ``(0, 1)``."""
    if isinstance(text, tuple):
        text = '/'.join(map(str, text))
    if text is None:
        text = f"{os.environ.get('RANK', '0')}/{os.environ.get('WORLD_SIZE', '1')}"
        what, form, order = 'RANK/WORLD_SIZE', 'expected integers (torchrun sets them)', 'need 0 <= RANK < WORLD_SIZE'
    else:
        what, form, order = name('shard'), 'expected i/n, e.g. 0/4', 'need 0 <= i < n'
    try:
        i, n = (int(x) for x in text.split('/'))
    except ValueError:
        raise UserError(f'{what} {text}: {form}') from None
    if not 0 <= i < n:
        raise UserError(f'{what} {text}: {order}')
    return i, n


def shard_keys(keys: list[str], i: int, n: int) -> list[str]:
    """Every n-th key from i: the shards are disjoint and together cover all keys."""
    return sorted(keys)[i::n]


_GENERATORS: dict = {}  # checkpoint path -> generator, loaded once per process (forked workers share it)


def load_dsgan_generator(path: str):
    """A DSGAN generator for inference from any srkit or authors' checkpoint (CPU, eval mode)."""
    if path not in _GENERATORS:
        from .inference import load_generator
        net, cfg, _ = load_generator(path)
        if cfg['type'] != 'DSGANGenerator':
            raise UserError(f'{name("model")} {path}: a {cfg["type"]}, not a DSGAN generator (DSGANGenerator)')
        for p in net.parameters():
            p.requires_grad_(False)
        _GENERATORS[path] = net
    return _GENERATORS[path]


def _degrade_one(job):
    key, root, backend, method, scale, seed, kwargs, out_dir = job
    from degradations import build_pipeline
    from .data.storage import open_storage
    from .utils.imgio import write_image
    kwargs = dict(kwargs)
    hr_dir = kwargs.pop('hr_output', None)
    model = kwargs.pop('model', None)
    if model:  # a path in the job, the network from this process's cache
        kwargs['generator'] = load_dsgan_generator(model)
    try:
        st = _STORAGE.get(root)
        if st is None:  # one storage handle per worker process
            st = _STORAGE[root] = open_storage(root, backend)
        hr = st.read(key)
        h, w = hr.shape[:2]
        hr = hr[: h - h % scale, : w - w % scale]
        if min(hr.shape[:2]) < scale:
            raise DataError(f'{st.describe(key)}: image {h}x{w} is smaller than the scale {scale}')
        s = image_seed(seed, key)
        try:
            lr, hr_out, params = build_pipeline(method, **kwargs)(hr, scale, np.random.default_rng(s))
        except ValueError as e:  # an image the pipeline cannot take (too small for its crop, ...)
            raise DataError(f'{st.describe(key)}: {e}') from None
        if model:
            params.update(model=os.path.abspath(model), tile=kwargs['tile'])
        if hr_dir:  # the HR the LR pairs with (DSGAN's TDSR cleans it up), written first
            write_image(os.path.join(hr_dir, f'{key}.png'), np.clip(hr_out, 0, 1))
        write_image(os.path.join(out_dir, f'{key}.png'), np.clip(lr, 0, 1))
        return {'name': f'{key}.png', 'key': key, 'seed': s, 'hr_size': [int(hr.shape[0]), int(hr.shape[1])],
                'params': params}
    except DataError as e:
        return {'key': key, 'error': str(e)}


_STORAGE: dict = {}


def _init_worker():
    # the processes are the parallelism; one torch thread each keeps them off each other's cores
    import torch
    torch.set_num_threads(1)


def replay(line: dict, hr: np.ndarray, method: str | None = None, kwargs: dict | None = None) -> np.ndarray:
    """Rebuild one LR image from its manifest line and its HR ``(H,W,3) RGB float32``."""
    from degradations import build_pipeline
    p = line['params']
    method = method or p['method']
    kwargs = dict(kwargs or {})
    if method == 'dsgan' and 'generator' not in kwargs:  # the manifest names the generator file
        kwargs.update(generator=load_dsgan_generator(p['model']), mode=p['mode'], tile=p['tile'])
    h, w = line['hr_size']
    lr, _, _ = build_pipeline(method, **kwargs)(hr[:h, :w], p['scale'], np.random.default_rng(line['seed']))
    return np.clip(lr, 0, 1)


def _not_ours(path: str, what: str) -> UserError:
    """The one-line refusal of an output folder's state file that srkit-degrade did not write."""
    return UserError(f'{path}: {what} (srkit-degrade did not write it); remove it or choose another {name("output")}')


def _json_kind(value) -> str:
    names = {dict: 'object', list: 'list', str: 'string', bool: 'boolean', type(None): 'null'}
    return f'a JSON {names.get(type(value), "number")}'


def _read_state_file(path: str) -> str:
    """The text of ``run.json`` or a manifest; one line when it cannot be read or is not text
    (srkit-degrade writes ASCII: ``json.dumps`` escapes everything else)."""
    if os.path.isdir(path):
        raise _not_ours(path, 'cannot be read (Is a directory)')
    try:  # a regular file only, capped: a FIFO named manifest.jsonl would hang the run
        data = read_file(path)
    except DataError as e:
        raise _not_ours(path, str(e).split(': ', 1)[-1]) from None
    try:
        return data.decode('utf-8')
    except UnicodeDecodeError:
        raise _not_ours(path, 'not text') from None


def _read_manifest(path: str) -> dict[str, dict]:
    """The image records of a manifest, ``{key: line}``; ``{}`` when there is none yet.

    A line that a kill tore (a prefix of a record, which starts with ``{`` and never parses) is
    skipped, so that image is redone, as is an empty file (a run killed before its first image).
    A file that is something else (text that is not JSON lines, a JSON list, a line that is not
    an image record) is a one-line :class:`UserError` naming it, before anything is written.
    """
    if not os.path.exists(path):
        return {}
    out = {}
    for n, line in enumerate(_read_state_file(path).splitlines(), 1):
        text = line.strip().strip('\0')  # NULs: the zeroed tail a crash can leave in a file
        if not text:
            continue
        try:
            d = json.loads(text)
        except ValueError:
            if text.startswith('{'):
                continue  # torn by a kill (a resumed run then appended the next record to it)
            raise _not_ours(path, f'line {n} is not JSON') from None
        if not isinstance(d, dict) or not isinstance(d.get('key'), str):
            what = 'a JSON object without a "key"' if isinstance(d, dict) else _json_kind(d)
            raise _not_ours(path, f'line {n} is {what}, not an image record')
        out[d['key']] = d
    return out


def _read_run_settings(path: str) -> dict | None:
    """``run.json``'s settings, ``None`` when there is none; one line when it is not the
    settings object srkit-degrade records (it is written atomically, so never torn)."""
    if not os.path.exists(path):
        return None
    text = _read_state_file(path)
    if not text.strip():
        raise _not_ours(path, 'empty')
    try:
        before = json.loads(text)
    except ValueError:
        raise _not_ours(path, 'not JSON') from None
    if not isinstance(before, dict):
        raise _not_ours(path, f'{_json_kind(before)}, not run settings')
    missing = [k for k in ('method', 'scale', 'seed', 'options') if k not in before]
    if missing:
        raise _not_ours(path, f'run settings without "{missing[0]}"')
    return before


def _run_settings(method, scale, seed, kwargs) -> dict:
    opts = {k: v for k, v in kwargs.items() if k not in ('hr_output', 'model')}
    out = {'method': method, 'scale': scale, 'seed': seed, 'options': json.loads(json.dumps(opts, sort_keys=True))}
    if kwargs.get('model'):  # the generator's bytes, not its path: a retrained file is another run
        with open(kwargs['model'], 'rb') as f:
            out['model_sha256'] = hashlib.sha256(f.read()).hexdigest()
    return out


def _check_run_settings(out_dir: str, method, scale, seed, kwargs, record: bool = True) -> None:
    """A resumed run must be the same run: the settings are kept in ``run.json``, and other
    settings are refused rather than mixed into the images already there."""
    from .utils.fileio import atomic_write_bytes
    path = os.path.join(out_dir, 'run.json')
    now = _run_settings(method, scale, seed, kwargs)
    before = _read_run_settings(path)
    if before is not None:
        for k in ('method', 'scale', 'seed', 'options', 'model_sha256'):
            if before.get(k) != now.get(k):
                what = (f'the {name("model")} file' if k == 'model_sha256'
                        else f'{k} {before.get(k)!r} (now {now.get(k)!r})')
                raise UserError(f'{out_dir}: holds images made with another {what}; '
                                f'use another {name("output")} or delete that one')
    elif record:
        atomic_write_bytes(path, json.dumps(now, indent=1, sort_keys=True).encode())


def _ends_with_newline(path: str) -> bool:
    with open(path, 'rb') as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b'\n'


def _read_manifests(folder: str) -> dict[str, dict]:
    done: dict[str, dict] = {}
    for f in sorted(os.listdir(folder)):
        if f.startswith('manifest') and f.endswith('.jsonl'):
            done.update(_read_manifest(os.path.join(folder, f)))
    return done


def _lmdb_complete(path: str, keys) -> bool:
    from .data.storage import INCOMPLETE_MARKER
    if not os.path.exists(os.path.join(path, 'meta_info.txt')) or os.path.exists(os.path.join(path, INCOMPLETE_MARKER)):
        return False
    m = os.path.join(path, 'manifest.jsonl')
    return os.path.exists(m) and set(keys) <= set(_read_manifest(m))


def _pack_lmdb(staging: str, lmdb_path: str) -> int:
    """Pack the staged LR images into a BasicSR-layout LMDB (resumable), put the
    manifest beside its meta_info.txt, then drop the staging folder.  Returns the image count."""
    import shutil
    from .data.lmdb_writer import make_lmdb
    from .utils.fileio import atomic_write_text
    from .data.storage import INCOMPLETE_MARKER, read_meta_info
    from .utils.imgio import images_by_stem
    meta = os.path.join(lmdb_path, 'meta_info.txt')
    staged = set(images_by_stem(staging))
    if (os.path.exists(meta) and not os.path.exists(os.path.join(lmdb_path, INCOMPLETE_MARKER))
            and {k for k, _ in read_meta_info(meta)} == staged):
        # a run killed after the pack, before the manifest: the LMDB is whole, finish the rest
        stats = {'total': len(staged)}
    else:
        stats = make_lmdb(staging, lmdb_path)
    lines = sorted(_read_manifests(staging).values(), key=lambda d: d['key'])
    atomic_write_text(os.path.join(lmdb_path, 'manifest.jsonl'), ''.join(json.dumps(d) + '\n' for d in lines))
    if os.path.exists(os.path.join(staging, 'run.json')):
        shutil.copyfile(os.path.join(staging, 'run.json'), os.path.join(lmdb_path, 'run.json'))
    shutil.rmtree(staging)
    return stats['total']


@dataclass
class DegradeJob:
    """What :func:`degrade_folder` does (``srkit-degrade``'s options).

    ``input``: an HR folder or ``X.lmdb``; ``output``: the LR folder, or ``Y.lmdb`` (staged as
    images in ``Y.lmdb.parts``, packed when every image is done).  ``method`` (a pipeline of
    :data:`degradations.PIPELINES`) and/or ``preset`` (a shipped name or a YAML file) pick the
    degradation.  ``shard``: ``'i/n'`` or ``(i, n)``, every n-th image from the i-th (``None``:
    torchrun's RANK/WORLD_SIZE).  ``model``/``mode``/``tile``: the DSGAN generator, ``sdsr`` or
    ``tdsr``, its tile size.  ``hr_output``: also write the HR each LR pairs with there."""

    input: str
    output: str
    method: Optional[str] = None
    scale: int = 4
    seed: int = 0
    workers: int = 1
    preset: Optional[str] = None
    shard: Optional[str | tuple[int, int]] = None
    model: Optional[str] = None
    mode: Optional[str] = None
    tile: int = 512
    hr_output: Optional[str] = None


@dataclass
class DegradeResult:
    """What :func:`degrade_folder` did.

    ``out_dir``: where the LR images are (``Y.lmdb.parts`` while an LMDB is staged);
    ``written``: the names made by this run; ``already_done``: images an earlier run made;
    ``failed``: one line per input image that could not be read or degraded (the others are
    written); ``shard``: ``(i, n)``; ``generator``: the DSGAN generator's description;
    ``lmdb``: the LMDB output, if any; ``packed``: its image count when this run packed it;
    ``already_complete``: the LMDB was whole already (nothing done)."""

    method: str
    out_dir: str
    shard: tuple[int, int] = (0, 1)
    written: list[str] = field(default_factory=list)
    already_done: int = 0
    failed: list[str] = field(default_factory=list)
    generator: Optional[str] = None
    lmdb: Optional[str] = None
    packed: Optional[int] = None
    already_complete: Optional[int] = None

    @property
    def ok(self) -> bool:
        return not self.failed


def _resolve(job: DegradeJob) -> tuple[str, dict, Optional[str]]:
    """``(method, pipeline options, generator description)``, every option checked before any work."""
    from degradations import PIPELINES, check_options, load_preset
    method, preset, model, mode = job.method, job.preset, job.model, job.mode
    kwargs, described = {}, None
    if preset:
        try:
            kwargs = load_preset(preset)
        except ValueError as e:
            raise UserError(f'{name("preset")} {e}') from None
        preset_method = kwargs.pop('type')
        if method not in (None, preset_method):
            raise UserError(f'{name("method")} {method}: the preset {preset} is for {preset_method}')
        method = preset_method
    if method is None:
        raise UserError(f'{name("method")} or {name("preset")} is required')
    if method not in PIPELINES:
        raise UserError(f'{name("method")} {method}: unknown (known: {", ".join(sorted(PIPELINES))})')
    if method == 'dsgan':
        if not model:
            raise UserError(f'{name("method")} dsgan: {name("model")} G.pth (a trained DSGAN generator) is required')
        if (mode or 'sdsr') == 'tdsr' and not job.hr_output:
            raise UserError(f'{name("mode")} tdsr: the HR images change (bicubic x1/2), so give '
                            f'{name("hr_output")} DIR for them')
        g = load_dsgan_generator(model)  # a bad file fails here, once, before any work
        from .inference import describe
        described = describe(g.srkit_config, 1)
        kwargs.update(mode=mode or 'sdsr', tile=job.tile)
    elif model or mode:
        raise UserError(f'{name("model")}/{name("mode")}: only for {name("method")} dsgan, not {method}')
    try:
        check_options(method, kwargs)
    except KeyError as e:
        raise UserError(f'{name("preset")} {e.args[0]}') from None
    try:
        check_degradation(method, kwargs, '')
    except UserError as e:
        raise UserError(f'{name("preset")} {preset}: {e}' if preset else f'{name("method")} {method}: {e}') from None
    if method == 'dsgan':
        kwargs['model'] = model
    return method, kwargs, described


def degrade_folder(job: DegradeJob, progress: Optional[Progress] = None) -> DegradeResult:
    """Degrade every HR image of ``job.input`` into ``job.output`` (see :class:`DegradeJob`).

    An unreadable input image is skipped and listed in the result's ``failed``; a bad job (an
    unknown method, an output that is an input, another run's folder ...) raises
    :class:`UserError` before anything is written.  ``progress(stage, done, total)`` follows
    the images."""
    output = job.output
    lmdb_out = output.rstrip('/') if output.rstrip('/').endswith('.lmdb') else None
    from .data.storage import open_storage
    method, kwargs, described = _resolve(job)
    scale, seed = job.scale, job.seed
    check_apart(output, [job.input], name('output'))
    if job.hr_output:
        check_apart(job.hr_output, [job.input], name('hr_output'))
        if os.path.realpath(job.hr_output.rstrip('/')) == os.path.realpath(output.rstrip('/')):
            raise UserError(f'{name("hr_output")} {job.hr_output}: is {name("output")}; the HR and LR images '
                            'share their names, so each would replace the other')
        make_output_dir(job.hr_output, name('hr_output'))
        kwargs['hr_output'] = job.hr_output
    if scale < 1:
        raise UserError(f'{name("scale")}: must be >= 1')
    i, n = parse_shard(job.shard)
    backend = 'lmdb' if job.input.rstrip('/').endswith('.lmdb') else 'disk'
    try:
        st = open_storage(job.input, backend)
    except DataError as e:
        raise UserError(str(e)) from None
    result = DegradeResult(method, lmdb_out + '.parts' if lmdb_out else output, (i, n), generator=described,
                           lmdb=lmdb_out)
    # one writer per output (per shard: shards of one output run side by side by design)
    tag = f'.shard-{i}-of-{n}' if n > 1 else ''
    with folder_lock(lmdb_out or output, 'srkit-degrade', tag):
        if lmdb_out and _lmdb_complete(lmdb_out, st.keys):
            _check_run_settings(lmdb_out, method, scale, seed, kwargs, record=False)
            result.already_complete = len(st.keys)
            if os.path.isdir(lmdb_out + '.parts'):  # a run killed while removing its staging folder
                import shutil
                shutil.rmtree(lmdb_out + '.parts', ignore_errors=True)
            return result
        out_dir = result.out_dir  # LMDB output: stage images, then pack
        make_output_dir(out_dir, name('output'))
        mine = shard_keys(st.keys, i, n)
        manifest = os.path.join(out_dir, 'manifest.jsonl' if n == 1 else f'manifest.{i}-of-{n}.jsonl')
        # the state files are read (and a foreign one refused) before anything is written;
        # seeds do not depend on the shard, so an unsharded run counts what shards already made
        done = _read_manifests(out_dir) if n == 1 else _read_manifest(manifest)
        mine_set = set(mine)
        done = {k: v for k, v in done.items() if k in mine_set}
        result.already_done = len(done)
        _check_run_settings(out_dir, method, scale, seed, kwargs)
        # temp files of this shard's writes that a kill interrupted (other shards may be writing theirs)
        prefixes = tuple(f'.{k}.png.' for k in mine)
        for f in os.listdir(out_dir):
            if f.endswith('.tmp') and f.startswith(prefixes):
                os.unlink(os.path.join(out_dir, f))
        keys = [k for k in mine if k not in done]
        _degrade_keys(keys, (job.input, backend, method, scale, seed, kwargs, out_dir), job.workers, manifest,
                      result, progress)
        if lmdb_out and not result.failed and n == 1:
            result.packed = _pack_lmdb(out_dir, lmdb_out)
        return result


def _degrade_keys(keys: list[str], common: tuple, workers: int, manifest: str, result: DegradeResult,
                  progress: Optional[Progress]) -> None:
    """Degrade ``keys`` (in ``workers`` processes), appending each image's record to ``manifest``."""
    jobs = [(k, *common) for k in keys]
    stage = f'degrade {result.method}'
    pool = get_context('fork').Pool(workers, initializer=_init_worker) if workers > 1 else None
    results = pool.imap(_degrade_one, jobs, chunksize=2) if pool else map(_degrade_one, jobs)
    try:
        with open(manifest, 'a') as mf:
            if mf.tell() and not _ends_with_newline(manifest):
                mf.write('\n')  # a kill tore the last line: keep the next record off it
            if progress:
                progress(stage, 0, len(jobs))
            for k, r in enumerate(results, 1):
                if 'error' in r:
                    result.failed.append(r['error'])
                else:
                    mf.write(json.dumps(r) + '\n')
                    mf.flush()
                    result.written.append(r['name'])
                if progress:
                    progress(stage, k, len(jobs))
    finally:
        if pool:
            pool.terminate()


def build_lmdb(folder: Optional[str], lmdb: str, workers: int = 1, compress_level: int = 1, verify: bool = False,
               progress: Optional[Progress] = None) -> 'LmdbResult':
    """Write the images of ``folder`` into ``lmdb`` in BasicSR's layout (resuming an interrupted
    build), and/or (``verify``) decode every record of it.  ``folder=None`` with ``verify``:
    check an existing LMDB only.  ``progress(stage, done, total)``: stages ``lmdb`` and ``verify``."""
    from .data.lmdb_writer import make_lmdb, verify_lmdb
    if folder is None and not verify:
        raise UserError(f'{name("input")} is required (or {name("verify")} alone to check an existing LMDB)')
    res = LmdbResult(lmdb)
    if folder is not None:
        cb = (lambda done, total: progress('lmdb', done, total)) if progress else None
        stats = make_lmdb(folder, lmdb, workers=workers, compress_level=compress_level, progress=cb)
        res.total, res.written, res.resumed = stats['total'], stats['written'], stats['skipped']
        res.not_files = list(stats['not_files'])
    if verify:
        cb = (lambda done, total: progress('verify', done, total)) if progress else None
        res.bad = list(verify_lmdb(lmdb, progress=cb))
        res.verified = True
    return res


@dataclass
class LmdbResult:
    """What :func:`build_lmdb` did: ``total`` images in the LMDB, ``written`` by this run,
    ``resumed`` (already there from an interrupted run), ``not_files`` (inputs that are not
    regular files: skipped), and with ``verified``, the records that do not decode (``bad``)."""

    lmdb: str
    total: Optional[int] = None
    written: int = 0
    resumed: int = 0
    not_files: list[str] = field(default_factory=list)
    verified: bool = False
    bad: list[str] = field(default_factory=list)
