"""Every tool is a request-to-result core in the library and a thin command line (issue 21).

- each ``srkit/cli/<tool>.py`` ``main`` is at most about 30 lines: arguments into a request,
  the result into printed lines and an exit code;
- the library cores print nothing (stdout and stderr stay empty) and return what they did;
- the library speaks in request fields, never in a command line's flags.
"""
import ast
import os
import pathlib
import re
import shutil

import numpy as np
import pytest
import torch

from srkit.archs import build_network
from srkit.errors import UserError
from srkit.utils.checkpoint import load_checkpoint, network_meta, save_checkpoint
from srkit.utils.imgio import read_image
from srkit.utils.naming import field_names

ROOT = pathlib.Path(__file__).resolve().parent.parent
CLI = ROOT / 'srkit' / 'cli'
MAX_MAIN_LINES = 30

# the library modules behind the tools: no flag spelled in any of their strings, docstrings included
LIBRARY = ['srkit/degrading.py', 'srkit/evaluation.py', 'srkit/report.py', 'srkit/inference.py',
           'srkit/export.py', 'srkit/utils/naming.py', 'srkit/utils/device.py',
           *sorted(str(p.relative_to(ROOT)) for p in (ROOT / 'srkit' / 'curation').glob('*.py')),
           'srkit/metrics/noref.py', 'srkit/metrics/ic9600.py']
FLAG = re.compile(r'(?<![\w-])--[a-z][a-z0-9_-]*')


# ------------------------------------------------------------------------ thin commands
def _mains():
    for path in sorted(CLI.glob('*.py')):
        tree = ast.parse(path.read_text(), str(path))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name == 'main':
                yield path, node


def test_every_tool_has_a_main():
    tools = {p.stem for p in CLI.glob('*.py')} - {'__init__', 'common'}
    assert {p.stem for p, _ in _mains()} == tools


@pytest.mark.parametrize('path,node', list(_mains()), ids=lambda v: getattr(v, 'name', None) or '')
def test_each_cli_main_is_at_most_30_lines(path, node):
    n = node.end_lineno - node.lineno + 1
    assert n <= MAX_MAIN_LINES, (f'{path.relative_to(ROOT)}: main() is {n} lines (at most {MAX_MAIN_LINES}); '
                                 'move the work into the library and the parser into parser()')


# ------------------------------------------------------------------------ no flags below cli/
def _flags_in_strings(source: str) -> list[tuple[int, str]]:
    """``(line, flag)`` of every flag in a string of ``source``: literals, f-strings' text, docstrings."""
    return [(node.lineno, m) for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Constant) and isinstance(node.value, str) for m in FLAG.findall(node.value)]


def test_the_library_spells_no_flag():
    found = [f'{rel}:{line}: {flag}' for rel in LIBRARY for line, flag in _flags_in_strings((ROOT / rel).read_text())]
    assert not found, 'flags belong to srkit/cli (name the request field instead):\n' + '\n'.join(found)


def test_the_flag_check_sees_f_strings_and_docstrings():
    source = '"""Use --tile."""\nx = 3\nraise ValueError(f"--out {x}: bad, not a-b or --3")\n'
    assert _flags_in_strings(source) == [(1, '--tile'), (3, '--out')]


def test_errors_name_the_field_and_a_caller_maps_it_to_its_flag(tmp_path, photos_dir, capsys):
    from srkit.degrading import DegradeJob, degrade_folder
    job = DegradeJob(str(photos_dir / 'hr'), str(tmp_path / 'lr'), method='nope')
    with pytest.raises(UserError, match=r'^method nope: unknown \(known: '):
        degrade_folder(job)
    with field_names({'method': '--method'}), pytest.raises(UserError, match=r'^--method nope: unknown'):
        degrade_folder(job)
    with pytest.raises(UserError, match=r'^hr_output .*: is output; '):
        degrade_folder(DegradeJob(str(photos_dir / 'hr'), str(tmp_path / 'lr'), method='bicubic',
                                  hr_output=str(tmp_path / 'lr')))
    assert not (tmp_path / 'lr').exists()
    assert capsys.readouterr() == ('', '')


# ------------------------------------------------------------------------ silent cores
def _generator(path, seed=0, **cfg):
    cfg = {'type': 'MSRResNet', 'num_feat': 8, 'num_block': 1, 'upscale': 2, **cfg}
    torch.manual_seed(seed)
    net = build_network(cfg)
    save_checkpoint({'params': net.state_dict(), 'srkit': network_meta(net, net.scale, 1)}, str(path))
    return str(path)


def _quiet(capsys):
    out, err = capsys.readouterr()
    assert (out, err) == ('', ''), f'the library printed:\nstdout: {out!r}\nstderr: {err!r}'


def test_degrade_folder_returns_what_it_did_and_prints_nothing(tmp_path, photos_dir, capsys):
    from srkit.degrading import DegradeJob, degrade_folder
    hr = tmp_path / 'hr'
    shutil.copytree(photos_dir / 'hr', hr)
    (hr / 'broken.png').write_bytes(b'\x89PNG\r\n\x1a\n broken')
    names = sorted(p.name for p in (photos_dir / 'hr').iterdir())
    seen = []
    job = DegradeJob(str(hr), str(tmp_path / 'lr'), method='bicubic', scale=2, seed=3)
    r = degrade_folder(job, progress=lambda stage, done, total: seen.append((stage, done, total)))
    _quiet(capsys)
    assert (r.method, r.out_dir, r.shard, r.already_done) == ('bicubic', str(tmp_path / 'lr'), (0, 1), 0)
    assert sorted(r.written) == names and not r.ok
    assert len(r.failed) == 1 and 'broken.png: cannot decode image' in r.failed[0]
    assert sorted(f for f in os.listdir(tmp_path / 'lr') if f.endswith('.png')) == names
    assert read_image(str(tmp_path / 'lr' / names[0])).shape == (48, 48, 3)
    assert seen[0] == ('degrade bicubic', 0, 7) and seen[-1] == ('degrade bicubic', 7, 7)
    again = degrade_folder(job)  # resumed: the broken one is tried again
    assert (again.written, again.already_done, len(again.failed)) == ([], 6, 1)
    packed = degrade_folder(DegradeJob(str(photos_dir / 'hr'), str(tmp_path / 'lr.lmdb'), preset='bicubic', scale=2))
    _quiet(capsys)
    assert packed.ok and packed.packed == 6 and packed.lmdb == str(tmp_path / 'lr.lmdb')
    assert packed.out_dir == str(tmp_path / 'lr.lmdb.parts') and not os.path.exists(packed.out_dir)
    done = degrade_folder(DegradeJob(str(photos_dir / 'hr'), str(tmp_path / 'lr.lmdb'), preset='bicubic', scale=2))
    assert done.already_complete == 6 and done.written == []


def test_curate_returns_what_it_kept_and_prints_nothing(tmp_path, photos_dir, capsys):
    from srkit.curation import CurateRequest, curate
    seen = []
    req = CurateRequest([str(photos_dir / 'hr')], str(tmp_path / 'cur'), tile=48, score=['sharpness'],
                        keep=['sharpness>p50'], dedup='phash')
    r = curate(req, progress=lambda stage, done, total: seen.append((stage, done, total)))
    _quiet(capsys)
    assert r.finished and r.ok and (r.units, r.tiles) == (6, 24) and r.kept + sum(r.dropped.values()) == 24
    assert r.dropped['sharpness'] == 12 and set(r.thresholds) == {'sharpness>p50'}
    assert r.report == str(tmp_path / 'cur' / 'report.html') and os.path.isfile(r.report)
    assert seen[0] == ('tiles', 0, 6) and ('tiles', 6, 6) in seen
    again = curate(req)
    _quiet(capsys)
    assert again.already_complete and again.kept == r.kept
    with field_names({'tile': '--tile'}), pytest.raises(UserError, match='--tile 4: must be between'):
        curate(CurateRequest([str(photos_dir / 'hr')], str(tmp_path / 'x'), tile=4))
    with pytest.raises(UserError, match='^tile 4: must be between'):
        curate(CurateRequest([str(photos_dir / 'hr')], str(tmp_path / 'x'), tile=4))


def test_build_lmdb_returns_counts_and_prints_nothing(tmp_path, photos_dir, capsys):
    from srkit.degrading import build_lmdb
    r = build_lmdb(str(photos_dir / 'hr'), str(tmp_path / 'hr.lmdb'), verify=True)
    _quiet(capsys)
    assert (r.total, r.written, r.resumed, r.not_files, r.verified, r.bad) == (6, 6, 0, [], True, [])
    again = build_lmdb(None, str(tmp_path / 'hr.lmdb'), verify=True)
    assert again.total is None and again.verified and again.bad == []
    with pytest.raises(UserError, match='^input is required'):
        build_lmdb(None, str(tmp_path / 'hr.lmdb'))


def test_evaluate_returns_scores_and_a_report_and_prints_nothing(tmp_path, photos_dir, capsys):
    from srkit.evaluation import EvalRequest, evaluate
    g = _generator(tmp_path / 'g.pth')
    out = tmp_path / 'report'
    req = EvalRequest(str(photos_dir / 'hr'), model=[f'net={g}'],
                      lq=str(photos_dir / 'lr_x2'), metrics='psnr', out=str(out), device='cpu', crop_size=16)
    with pytest.raises(UserError, match='^sr .*: not a directory'):
        evaluate(EvalRequest(str(photos_dir / 'hr'), sr=[str(tmp_path / 'none')], metrics='psnr'))
    r = evaluate(req)
    _quiet(capsys)
    assert list(r.scores['models']) == ['bicubic', 'net'] and not r.partial
    assert r.scores['scale'] == 2 and r.scores['metrics'] == ['psnr']
    for m in r.scores['models'].values():
        assert len(m['images']) == 6 and 15 < m['mean']['psnr'] < 60
    assert r.scores['models']['net']['folder'] == str(out / 'sr' / 'net')
    assert len(os.listdir(out / 'sr' / 'net')) == 6
    assert r.generators == [(g, 'MSRResNet x2 (num_feat 8, num_block 1, upscale 2)')]
    assert r.report == str(out / 'report.html') and os.path.isfile(r.report)
    assert r.degraded is None
    degraded = evaluate(EvalRequest(str(photos_dir / 'hr'), degrade='bicubic', scale=2, metrics=['psnr', 'ssim'],
                                    json=str(tmp_path / 'm.json'), device='cpu'))
    _quiet(capsys)
    assert degraded.report is None and len(degraded.degraded.written) == 6
    assert list(degraded.scores['models']) == ['bicubic'] and os.path.isfile(tmp_path / 'm.json')


def test_upscale_folder_returns_its_outputs_and_prints_nothing(tmp_path, photos_dir, capsys):
    from srkit.inference import UpscaleRequest, upscale_folder
    g = _generator(tmp_path / 'g.pth')
    src = tmp_path / 'in'
    shutil.copytree(photos_dir / 'lr_x2', src)
    (src / 'broken.png').write_bytes(b'\x89PNG\r\n\x1a\n broken')
    names = sorted(p.name for p in (photos_dir / 'lr_x2').iterdir())
    seen = set()
    r = upscale_folder(UpscaleRequest(g, str(src), str(tmp_path / 'up'), device='cpu', tile=24, tile_overlap=4,
                                      dni_model=g, dni=1.5),
                       progress=lambda stage, done, total: seen.add(stage))
    _quiet(capsys)
    assert r.network == g and r.description == 'MSRResNet x2 (num_feat 8, num_block 1, upscale 2)'
    assert r.interpolated_with == g and r.warnings == ['dni 1.5 is outside [0, 1]: extrapolating']
    assert sorted(r.written) == [str(tmp_path / 'up' / n) for n in names] and not r.ok
    assert len(r.failed) == 1 and 'broken.png' in r.failed[0]
    assert read_image(r.written[0]).shape == (96, 96, 3) and seen == {'infer', 'tiles'}
    bicubic = upscale_folder(UpscaleRequest('bicubic', str(photos_dir / 'lr_x2'), str(tmp_path / 'bic'), scale=2))
    _quiet(capsys)
    assert bicubic.ok and bicubic.network is None and len(bicubic.written) == 6
    with pytest.raises(UserError, match=r'^scale is required with model bicubic'):
        upscale_folder(UpscaleRequest('bicubic', str(photos_dir / 'lr_x2'), str(tmp_path / 'x')))


def test_interpolate_checkpoints_returns_its_files_and_prints_nothing(tmp_path, capsys):
    from srkit.inference import InterpRequest, interpolate_checkpoints
    a, b = _generator(tmp_path / 'a.pth', 1), _generator(tmp_path / 'b.pth', 2)
    r = interpolate_checkpoints(InterpRequest(a, b, [0, 0.5, 1.5], out_dir=str(tmp_path / 'sweep')))
    _quiet(capsys)
    sweep = tmp_path / 'sweep'
    assert r.files == [(0.0, str(sweep / 'b_alpha0.pth')), (0.5, str(sweep / 'b_alpha0.5.pth')),
                       (1.5, str(sweep / 'b_alpha1.5.pth'))]
    assert r.extrapolated == [1.5]
    key = 'conv_first.weight'
    wa, wb = load_checkpoint(a)['params'][key], load_checkpoint(b)['params'][key]
    torch.testing.assert_close(load_checkpoint(r.files[1][1])['params'][key], (wa + wb) / 2)
    with pytest.raises(UserError, match='^out .*is the input'):
        interpolate_checkpoints(InterpRequest(a, b, [0.5], out=a))


def test_sample_labels_returns_its_grid_and_prints_nothing(tmp_path, capsys):
    from srkit.inference import SampleRequest, sample_labels
    cgan = build_network({'type': 'CGANGenerator', 'latent_dim': 8, 'n_classes': 3, 'img_size': 8})
    path = str(tmp_path / 'cg.pth')
    save_checkpoint({'params': cgan.state_dict(), 'srkit': network_meta(cgan, 1, 1)}, path)
    r = sample_labels(SampleRequest(path, str(tmp_path / 'grid.png'), labels=[2, 0], per_label=2,
                                    out_dir=str(tmp_path / 'each'), device='cpu'))
    _quiet(capsys)
    assert (r.grid, r.labels, r.per_label, r.seed) == (str(tmp_path / 'grid.png'), [2, 0], 2, 0)
    assert [os.path.basename(p) for p in r.samples] == ['2_0.png', '2_1.png', '0_0.png', '0_1.png']
    assert read_image(r.grid).shape[:2] == (2 * 10 + 2, 2 * 10 + 2)
    with pytest.raises(UserError, match=r'^labels: 5 is out of range'):
        sample_labels(SampleRequest(path, str(tmp_path / 'g2.png'), labels=[5], device='cpu'))


def test_export_model_returns_its_file_and_prints_nothing(tmp_path, capsys):
    pytest.importorskip('onnxruntime')
    from srkit.export import ExportRequest, export_model
    g = _generator(tmp_path / 'g.pth')
    r = export_model(ExportRequest(g, str(tmp_path / 'g.onnx'), size=16))
    _quiet(capsys)
    assert (r.out, r.scale, r.arch['type'], r.sizes) == (str(tmp_path / 'g.onnx'), 2, 'MSRResNet', [(16, 16)])
    assert r.bytes == os.path.getsize(r.out) and r.max_diff <= r.tolerance == 1e-4
    with pytest.raises(UserError, match=r'^size 0: must be >= 1'):
        export_model(ExportRequest(g, str(tmp_path / 'x.onnx'), size=0))
    assert np.isfinite(r.mean_diff)
