import glob
import os
import signal
import subprocess
import sys

import pytest
import torch

from srkit.cli import train as train_cli
from srkit.options import parse_options
from srkit.trainer import Trainer
from srkit.utils.checkpoint import load_checkpoint
from conftest import ROOT, call_cli, kill_when, run_torchrun, tiny_options, write_yaml


def _models(exp):
    return sorted(glob.glob(os.path.join(exp, 'models', '*.pth')))


def test_training_writes_basicsr_checkpoints_and_state(tmp_path, photos_dir):
    opt = parse_options(tiny_options(tmp_path, photos_dir))
    assert Trainer(opt, quiet=True).fit() == 0
    exp = tmp_path / 'exp' / 'tiny'
    assert [os.path.basename(p) for p in _models(exp)] == ['net_g_12.pth', 'net_g_3.pth', 'net_g_6.pth', 'net_g_9.pth',
                                                           'net_g_latest.pth']
    assert os.path.samefile(exp / 'models' / 'net_g_latest.pth', exp / 'models' / 'net_g_12.pth')  # as BasicSR's
    ck = load_checkpoint(str(exp / 'models' / 'net_g_12.pth'))
    assert set(ck) == {'params', 'params_ema', 'srkit'}
    assert ck['srkit']['arch'] == {'type': 'MSRResNet', 'num_feat': 8, 'num_block': 1, 'upscale': 2}
    assert ck['srkit']['scale'] == 2 and not any(k.startswith('module.') for k in ck['params'])
    # EMA differs from the raw weights after training
    assert not torch.equal(ck['params']['conv_first.weight'], ck['params_ema']['conv_first.weight'])
    st = load_checkpoint(str(exp / 'training_states' / '12.state'))
    assert st['iter'] == 12 and st['epoch'] == 4  # 6 images / batch 2 = 3 it/epoch
    assert set(st['rng'][0]) >= {'python', 'numpy', 'torch'}
    assert st['model']['schedulers']['g']['last_epoch'] == 12
    assert st['model']['optimizers']['g']['param_groups'][0]['lr'] == pytest.approx(5e-4)  # milestone 6, gamma .5
    log = open(glob.glob(str(exp / 'train_tiny_*.log'))[0]).read()
    assert '[val val @ 12] psnr' in log and 'it/s eta' in log


def test_precision_and_layout_options_train(tmp_path, photos_dir):
    for over in ({'train.amp': 'bf16'}, {'train.amp': 'fp16'}, {'train.channels_last': False}):
        opt = parse_options(tiny_options(tmp_path, photos_dir, **{'train.total_iter': 3, 'val': None,
                                                                   'name': 'p' + str(list(over.values())[0]), **over}))
        t = Trainer(opt, quiet=True)
        assert t.fit() == 0
        sd = t.model.nets['g'].state_dict()
        assert all(torch.isfinite(v).all() for v in sd.values())


@pytest.mark.slow
def test_torch_compile_option_trains_and_saves_plain_weights(tmp_path, photos_dir):
    opt = parse_options(tiny_options(tmp_path, photos_dir, **{'train.total_iter': 3, 'val': None,
                                                               'train.compile': True}))
    t = Trainer(opt, quiet=True)
    assert t.fit() == 0
    ck = load_checkpoint(str(tmp_path / 'exp' / 'tiny' / 'models' / 'net_g_3.pth'))
    assert not any('_orig_mod' in k for k in ck['params'])  # compiled wrapper never leaks into files


def _final_weights(exp):
    return load_checkpoint(os.path.join(exp, 'models', 'net_g_12.pth'))


def test_sigkill_then_auto_resume_is_bitwise_identical(tmp_path, photos_dir):
    # the uninterrupted reference
    ref_opt = tiny_options(tmp_path, photos_dir, **{'name': 'ref', 'datasets.train.num_worker_per_gpu': 2})
    assert train_cli.main.run(['-opt', write_yaml(tmp_path / 'ref.yml', ref_opt), '--quiet']) == 0
    ref = _final_weights(tmp_path / 'exp' / 'ref')

    opt = tiny_options(tmp_path, photos_dir, **{'name': 'killed', 'datasets.train.num_worker_per_gpu': 2})
    y = write_yaml(tmp_path / 'k.yml', opt)
    exp = tmp_path / 'exp' / 'killed'
    env = dict(os.environ, PYTHONPATH=ROOT)
    cmd = [sys.executable, '-m', 'srkit.cli.train', '-opt', y, '--auto_resume', '--quiet']
    # kill -9 as soon as the second checkpoint (iteration 6) lands, mid-run
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    kill_when(p, (exp / 'training_states' / '6.state').exists)
    assert p.returncode == -signal.SIGKILL, p.stderr.read()
    assert not (exp / 'models' / 'net_g_12.pth').exists()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    log = ''.join(open(f).read() for f in glob.glob(str(exp / 'train_killed_*.log')))
    assert 'resumed from' in log
    got = _final_weights(exp)
    for key in ('params', 'params_ema'):
        for k, v in ref[key].items():
            assert torch.equal(v, got[key][k]), f'{key}.{k} differs after resume'


def test_sigterm_saves_a_checkpoint_before_exiting(tmp_path, photos_dir):
    opt = tiny_options(tmp_path, photos_dir, **{'name': 'term', 'train.total_iter': 100000,
                                                 'logger.save_checkpoint_freq': 100000, 'val': None})
    y = write_yaml(tmp_path / 't.yml', opt)
    exp = tmp_path / 'exp' / 'term'
    env = dict(os.environ, PYTHONPATH=ROOT)
    p = subprocess.Popen([sys.executable, '-m', 'srkit.cli.train', '-opt', y], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in p.stdout:  # wait until training is under way
        if '[iter' in line:
            p.send_signal(signal.SIGTERM)
            break
    out, err = p.communicate(timeout=120)
    assert p.returncode == 128 + signal.SIGTERM, err
    assert 'checkpoint saved' in out
    states = glob.glob(str(exp / 'training_states' / '*.state'))
    assert len(states) == 1
    it = int(os.path.basename(states[0]).split('.')[0])
    assert os.path.exists(exp / 'models' / f'net_g_{it}.pth') and it >= 3


@pytest.mark.slow
def test_ddp_two_cpu_processes(tmp_path, photos_dir):
    opt = tiny_options(tmp_path, photos_dir, **{'name': 'ddp', 'datasets.train.num_worker_per_gpu': 0})
    y = write_yaml(tmp_path / 'd.yml', opt)
    run_torchrun(y, tmp_path)
    exp = tmp_path / 'exp' / 'ddp'
    log = open(glob.glob(str(exp / 'train_ddp_*.log'))[0]).read()
    assert 'world 2' in log and '[val val @ 12]' in log and '(6 images;' in log  # val reduced over ranks
    assert len(glob.glob(str(exp / 'train_ddp_*.log'))) == 1  # rank 0 logs alone
    ck = load_checkpoint(str(exp / 'models' / 'net_g_12.pth'))
    assert not any(k.startswith('module.') for k in ck['params'])
    st = load_checkpoint(str(exp / 'training_states' / '12.state'))
    assert len(st['rng']) == 2  # every rank's RNG is kept for exact resume


def test_bad_data_during_training_exits_with_one_line(tmp_path, photos_dir):
    bad = tmp_path / 'bad'
    bad.mkdir()
    (bad / 'x.png').write_bytes(open(photos_dir / 'hr' / 'coffee_2.png', 'rb').read()[:200])
    opt = tiny_options(tmp_path, photos_dir, **{'datasets.train.dataroot_gt': str(bad), 'val': None,
                                                 'datasets.train.dataset_enlarge_ratio': 4,
                                                 'datasets.val': None})
    r = call_cli('train', '-opt', write_yaml(tmp_path / 'b.yml', opt), '--quiet')
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        f'srkit-train: error: {bad}/x.png: cannot decode image (unreadable, truncated or not an image)']
