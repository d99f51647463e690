"""Outputs that must not replace what they would (issue 20): a user's folder, an input, a device or
FIFO; inputs that are no regular file (devices, FIFOs) are skipped and reported, never read; and a
killed writer's temporaries are removed by the next write.  One rule, in srkit.utils.fileio, for
every tool."""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys

import pytest
import torch

from conftest import call_cli, run_cli


def _one_line(r, *needles):
    assert r.returncode not in (0, None) and 'Traceback' not in r.stderr, r.stderr[-1500:]
    assert r.stderr.count('\n') == 1, r.stderr[-1500:]
    for n in needles:
        assert n in r.stderr, (n, r.stderr)


def _generator(path, seed: int = 0) -> None:
    from srkit.archs import build_network
    from srkit.utils.checkpoint import network_meta, save_checkpoint
    torch.manual_seed(seed)
    net = build_network({'type': 'MSRResNet', 'num_feat': 8, 'num_block': 1, 'upscale': 2})
    save_checkpoint({'params': net.state_dict(), 'srkit': network_meta(net, 2, 1)}, str(path))


def _specials(tmp_path):
    """A FIFO, and (as root) a character device like /dev/null, made in ``tmp_path``: the tests
    never touch the machine's own /dev/null."""
    fifo = tmp_path / 'fifo'
    os.mkfifo(fifo)
    out = [fifo]
    if os.geteuid() == 0:
        dev = tmp_path / 'null'
        os.mknod(dev, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        out.append(dev)
    return out


def _still_special(path) -> bool:
    m = os.lstat(path).st_mode
    return stat.S_ISFIFO(m) or stat.S_ISCHR(m)


# --------------------------------------------------------------------------- folders


def test_srkit_eval_never_replaces_a_folder_it_did_not_write(tmp_path, photos_dir):
    """``--out mydocs`` swapped the user's folder for the report and deleted it, with exit 0."""
    docs = tmp_path / 'mydocs'
    (docs / 'sub').mkdir(parents=True)
    (docs / 'thesis.txt').write_text('four years')
    (docs / 'sub' / 'data.csv').write_text('1,2')
    args = ['--sr', f'a={photos_dir / "hr"}', '--gt', photos_dir / 'hr', '--no-bicubic']
    r = call_cli('eval', *args, '--out', docs)
    _one_line(r, '--out', 'mydocs', 'did not write')
    assert (docs / 'thesis.txt').read_text() == 'four years' and (docs / 'sub' / 'data.csv').exists()
    # the working directory, and a folder above it, are never a folder to replace (call_cli runs in
    # the repository, so the rule is called as srkit-eval calls it)
    from srkit.errors import UserError
    from srkit.utils.fileio import check_folder_replaceable
    cwd = os.getcwd()
    try:
        os.chdir(docs / 'sub')
        (docs / '.srkit-eval').write_text('')  # even one that looks like a report
        for out in ('.', '..'):
            with pytest.raises(UserError, match='holds the working directory'):
                check_folder_replaceable(out, '.srkit-eval', '--out')
        (docs / '.srkit-eval').unlink()
    finally:
        os.chdir(cwd)
    assert (docs / 'thesis.txt').exists() and (docs / 'sub' / 'data.csv').exists()
    # a new folder, then the same report again: srkit-eval replaces what it wrote itself
    rep = tmp_path / 'rep'
    assert call_cli('eval', *args, '--out', rep).returncode == 0
    assert (rep / '.srkit-eval').is_file() and (rep / 'report.html').is_file()
    (rep / 'note.txt').write_text('x')
    assert call_cli('eval', *args, '--out', rep).returncode == 0
    assert not (rep / 'note.txt').exists() and (rep / 'metrics.json').is_file()
    # an empty folder is fine too
    (tmp_path / 'empty').mkdir()
    assert call_cli('eval', *args, '--out', tmp_path / 'empty').returncode == 0


# --------------------------------------------------------------------------- files


def test_no_tool_renames_a_file_over_a_device_or_fifo(tmp_path, photos_dir):
    """Run as root, srkit-export --out /dev/null, srkit-eval --json /dev/null and srkit-interp --out
    NODE renamed a regular file over the device node (that happened to a real /dev/null)."""
    _generator(tmp_path / 'a.pth', 0)
    _generator(tmp_path / 'b.pth', 1)
    for node in _specials(tmp_path):
        r = call_cli('interp', tmp_path / 'a.pth', tmp_path / 'b.pth', '--alpha', '0.5', '--out', node)
        _one_line(r, f'--out {node}: exists and is a ')
        r = call_cli('eval', '--sr', f'a={photos_dir / "hr"}', '--gt', photos_dir / 'hr', '--no-bicubic',
                     '--json', node)
        _one_line(r, f'--json {node}: exists and is a ')
        assert r.stdout == ''  # refused before any scoring
        assert _still_special(node)
    # the shared helper refuses a folder too, and a symbolic link is replaced, not followed
    from srkit.errors import UserError
    from srkit.utils.fileio import atomic_write_text
    (tmp_path / 'dir').mkdir()
    with pytest.raises(UserError, match='exists and is a folder'):
        atomic_write_text(str(tmp_path / 'dir'), 'x')
    os.symlink(tmp_path / 'fifo', tmp_path / 'link')
    atomic_write_text(str(tmp_path / 'link'), 'x')
    assert (tmp_path / 'link').read_text() == 'x' and _still_special(tmp_path / 'fifo')


def test_srkit_interp_never_writes_over_its_inputs(tmp_path):
    _generator(tmp_path / 'a.pth', 0)
    _generator(tmp_path / 'b.pth', 1)
    before = (tmp_path / 'a.pth').read_bytes()
    r = call_cli('interp', tmp_path / 'a.pth', tmp_path / 'b.pth', '--alpha', '0.5', '--out', tmp_path / 'a.pth')
    _one_line(r, '--out', 'a.pth: is the input')
    os.link(tmp_path / 'b.pth', tmp_path / 'b_link.pth')  # the same file by another name
    r = call_cli('interp', tmp_path / 'a.pth', tmp_path / 'b.pth', '--alpha', '0.5',
                 '--out', tmp_path / 'b_link.pth')
    _one_line(r, 'b_link.pth: is the input')
    # --alphas' names are checked too: A named like one of the outputs (B's stem, _alpha0)
    (tmp_path / 'out').mkdir()
    shutil.copy(tmp_path / 'a.pth', tmp_path / 'out' / 'b_alpha0.pth')
    r = call_cli('interp', tmp_path / 'out' / 'b_alpha0.pth', tmp_path / 'b.pth', '--alphas', '0,1',
                 '--out-dir', tmp_path / 'out')
    _one_line(r, 'b_alpha0.pth: is the input')
    assert os.listdir(tmp_path / 'out') == ['b_alpha0.pth']
    assert (tmp_path / 'a.pth').read_bytes() == before


def test_temporaries_of_a_killed_writer_are_removed_by_the_next_write(tmp_path):
    """After kill -9 of srkit-infer or srkit-export, ``.name.*.tmp`` stayed for ever.  Temporaries
    carry their writer's PID; the next write of that name removes a dead writer's, keeps a live
    one's, and leaves other files alone."""
    from srkit.utils.fileio import atomic_write_text
    dead = subprocess.Popen([sys.executable, '-c', 'pass'])
    dead.wait()
    target = tmp_path / 'out.onnx'
    stale = tmp_path / f'.out.onnx.{dead.pid}.abc123xy.tmp'
    live = tmp_path / f'.out.onnx.{os.getppid()}.abc123xy.tmp'
    other = tmp_path / f'.other.onnx.{dead.pid}.abc123xy.tmp'
    for p in (stale, live, other):
        p.write_text('half')
    atomic_write_text(str(target), 'done')
    assert target.read_text() == 'done'
    assert not stale.exists() and live.exists() and other.exists()
    assert sorted(os.listdir(tmp_path)) == sorted([target.name, live.name, other.name])


def test_a_killed_export_leaves_nothing_the_next_run_keeps(tmp_path):
    """A real kill -9 of a writer in the middle of its write: the next write of the same name cleans up."""
    script = ('import sys\n'
              f'sys.path.insert(0, {os.path.dirname(os.path.dirname(os.path.abspath(__file__)))!r})\n'
              'from srkit.utils.fileio import atomic_path\n'
              f'with atomic_path({str(tmp_path / "m.onnx")!r}) as t:\n'
              '    open(t, "w").write("half"); print("ready", flush=True); sys.stdin.read()\n')  # held until killed
    p = subprocess.Popen([sys.executable, '-c', script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == 'ready'
    p.kill()
    p.wait()
    left = [n for n in os.listdir(tmp_path) if n.endswith('.tmp')]
    assert len(left) == 1 and f'.{p.pid}.' in left[0]
    from srkit.utils.fileio import atomic_write_text
    atomic_write_text(str(tmp_path / 'm.onnx'), 'whole')
    assert os.listdir(tmp_path) == ['m.onnx']


def test_safetensors_outputs_have_the_same_mode_as_pth(tmp_path):
    from srkit.utils.checkpoint import save_checkpoint
    umask = os.umask(0o022)
    try:
        save_checkpoint({'params': {'w': torch.zeros(2)}}, str(tmp_path / 'a.safetensors'))
        save_checkpoint({'params': {'w': torch.zeros(2)}}, str(tmp_path / 'a.pth'))
    finally:
        os.umask(umask)
    assert stat.S_IMODE(os.stat(tmp_path / 'a.safetensors').st_mode) == 0o644
    assert stat.S_IMODE(os.stat(tmp_path / 'a.pth').st_mode) == 0o644


# --------------------------------------------------------------------------- inputs


def bounded_call(code: str, timeout: int = 60) -> str:
    """Run ``code`` (which prints its verdict) in a Python process of at most 4 GB and ``timeout``
    seconds: a reader that blocks on a FIFO or reads /dev/zero for ever fails the test instead of
    hanging or exhausting the machine.  Returns its stdout and stderr."""
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
    from conftest import ROOT
    try:
        r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=timeout,
                           cwd=ROOT, preexec_fn=limit, env=dict(os.environ, PYTHONPATH=ROOT))
    except subprocess.TimeoutExpired:
        return 'timed out'
    return r.stdout + r.stderr


def test_read_bytes_reads_only_regular_files_and_caps_the_size(tmp_path, monkeypatch):
    from srkit.errors import DataError
    from srkit.utils.imgio import read_bytes
    big = tmp_path / 'big.png'
    with open(big, 'wb') as f:
        f.truncate(1 << 40)
    for path, says in [*((n, 'not a regular file') for n in _specials(tmp_path)),
                       ('/dev/zero', 'not a regular file'), (big, 'big.png: 1099511627776 bytes is over the limit')]:
        out = bounded_call('from srkit.utils.imgio import read_bytes\n'
                           f'try:\n    read_bytes({str(path)!r})\nexcept Exception as e:\n    print(e)')
        assert says in out, (path, out[-600:])
    monkeypatch.setenv('SRKIT_MAX_PIXELS', '100')
    (tmp_path / 'small.png').write_bytes(b'x' * 801)
    with pytest.raises(DataError, match='over the limit of 800 bytes'):
        read_bytes(str(tmp_path / 'small.png'))


def _hostile_folder(tmp_path, photos_dir):
    src = tmp_path / 'in'
    shutil.copytree(photos_dir / 'lr_x2', src)
    os.symlink('/dev/zero', src / 'zero.png')
    os.mkfifo(src / 'pipe.png')
    return src


def test_srkit_infer_and_degrade_skip_devices_and_fifos_in_a_folder(tmp_path, photos_dir):
    """``zero.png -> /dev/zero`` read until memory ran out (MemoryError); a FIFO ``pipe.png`` hung
    srkit-infer for ever.  Both are skipped and reported; the other images are written.  In
    subprocesses, so a regression ends at the timeout instead of hanging the suite."""
    src = _hostile_folder(tmp_path, photos_dir)
    n = len(os.listdir(photos_dir / 'lr_x2'))
    r = run_cli('infer', '--model', 'bicubic', '--scale', '2', '--input', src, '--output', tmp_path / 'up',
                timeout=120)
    assert r.returncode == 1 and 'Traceback' not in r.stderr, r.stderr[-1500:]
    assert 'zero.png: not a regular file' in r.stderr and 'pipe.png: not a regular file' in r.stderr
    assert len(os.listdir(tmp_path / 'up')) == n
    r = run_cli('degrade', '--input', src, '--output', tmp_path / 'lr', '--method', 'bicubic', '--scale', '2',
                timeout=120)
    assert r.returncode != 0 and 'Traceback' not in r.stderr, r.stderr[-1500:]
    assert 'zero.png: not a regular file' in r.stderr and 'pipe.png: not a regular file' in r.stderr
    assert len([f for f in os.listdir(tmp_path / 'lr') if f.endswith('.png')]) == n
    r = run_cli('infer', '--model', 'bicubic', '--scale', '2', '--input', '/dev/zero', '--output', tmp_path / 'z',
                timeout=120)
    assert r.returncode != 0 and 'Traceback' not in r.stderr and '/dev/zero' in r.stderr, r.stderr[-1500:]


def test_srkit_lmdb_skips_a_fifo_and_reports_it(tmp_path, photos_dir):
    src = _hostile_folder(tmp_path, photos_dir)
    r = run_cli('lmdb', '--input', src, '--output', tmp_path / 'x.lmdb', timeout=120)
    assert r.returncode == 0 and 'Traceback' not in r.stderr, r.stderr[-1500:]
    assert 'skipped' in r.stderr and 'pipe.png' in r.stderr and 'zero.png' in r.stderr
    n = len(os.listdir(photos_dir / 'lr_x2'))
    assert f'{n} images' in r.stdout
    assert len((tmp_path / 'x.lmdb' / 'meta_info.txt').read_text().splitlines()) == n


def test_lists_and_state_files_naming_a_device_or_fifo_are_not_read(tmp_path):
    """meta_info (BasicSR's and Real-ESRGAN's), labels files and JSON-lines logs were read with a
    plain open(): /dev/zero without end, a FIFO for ever."""
    os.mkfifo(tmp_path / 'fifo')
    for path in ('/dev/zero', tmp_path / 'fifo'):
        for call in ('from srkit.data.storage import read_meta_info as f', 'from srkit.utils.fileio import read_jsonl as f',
                     'from srkit.utils.fileio import read_text as f'):
            out = bounded_call(f'{call}\ntry:\n    f({str(path)!r})\nexcept Exception as e:\n    print(e)')
            assert f'{path}: not a regular file' in out, (call, path, out[-600:])


def test_a_checkpoint_that_is_a_fifo_or_device_is_refused_unread(tmp_path, photos_dir):
    """``--model pipe.pth`` (a FIFO) blocked srkit-infer for ever, ``--model /dev/zero`` read without
    end; subprocesses, so a regression ends at the timeout."""
    os.mkfifo(tmp_path / 'pipe.pth')
    for model in (tmp_path / 'pipe.pth', '/dev/zero'):
        r = run_cli('infer', '--model', model, '--input', photos_dir / 'lr_x2', '--output', tmp_path / 'o', timeout=60)
        _one_line(r, f'{model}: not a regular file')
    assert not (tmp_path / 'o').exists()
