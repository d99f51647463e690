import pytest

from srkit.errors import OptionError
from srkit.options import apply_override, load_options, parse_options
from conftest import call_cli, tiny_options, write_yaml


def _err(tmp_path, photos_dir, **over):
    with pytest.raises(OptionError) as e:
        parse_options(tiny_options(tmp_path, photos_dir, **over))
    return str(e.value)


def test_parses_into_typed_objects(tmp_path, photos_dir):
    opt = parse_options(tiny_options(tmp_path, photos_dir, **{'train.optim_g.lr': '2e-4'}))
    assert opt.train.optimizers['g'].lr == pytest.approx(2e-4)  # YAML's '2e-4' string is a number
    assert opt.train.total_iter == 12
    assert opt.datasets['train'].gt_size == 32 and opt.datasets['train'].scale == 2
    assert opt.networks['g']['type'] == 'MSRResNet'
    assert opt.val.metrics['psnr'].crop_border == 2


@pytest.mark.parametrize('over, expect', [
    ({'train.total_iters': 5}, 'train.total_iters: unknown key'),
    ({'datasets.train.gt_sise': 32}, 'datasets.train.gt_sise: unknown key'),
    ({'train.total_iter': 'many'}, 'train.total_iter: expected an integer'),
    ({'datasets.train.use_hflip': 'yes'}, 'datasets.train.use_hflip: expected true/false'),
    ({'datasets.train.gt_size': 33}, 'datasets.train.gt_size: 33 is not divisible by scale 2'),
    ({'datasets.train.dataroot_gt': '/nonexistent/x'}, 'datasets.train.dataroot_gt: no such file'),
    ({'datasets.train.type': 'NoSuchDataset'}, 'datasets.train.type: unknown dataset type'),
    ({'datasets.train.io_backend.type': 'redis'}, 'datasets.train.io_backend.type: expected one of'),
    ({'train.ema_decay': 1.5}, 'train.ema_decay: must be in [0, 1)'),
    ({'path.pretrain_network_g': '/nonexistent.pth'}, 'path.pretrain_network_g: no such file'),
    ({'train.optim_g.betas': [0.9]}, 'train.optim_g.betas: expected two numbers'),
    ({'name': None}, 'name: required key is missing'),
])
def test_bad_options_name_the_key(tmp_path, photos_dir, over, expect):
    assert expect in _err(tmp_path, photos_dir, **over)


def test_force_override_parses_yaml_scalars_without_eval(tmp_path, photos_dir):
    data = tiny_options(tmp_path, photos_dir)
    apply_override(data, 'train.total_iter=100')
    apply_override(data, 'val.metrics.psnr.test_y_channel=false')
    apply_override(data, 'network_g.num_feat=__import__("os").getpid()')
    assert data['train']['total_iter'] == 100
    assert data['val']['metrics']['psnr']['test_y_channel'] is False
    assert data['network_g']['num_feat'] == '__import__("os").getpid()'  # a string, never evaluated
    y = write_yaml(tmp_path / 'o.yml', tiny_options(tmp_path, photos_dir))
    assert load_options(y, ['train.total_iter=5']).train.total_iter == 5


def test_python_object_tag_is_refused_not_run(tmp_path):
    marker = tmp_path / 'pwned'
    y = tmp_path / 'evil.yml'
    y.write_text(f'name: !!python/object/apply:os.system ["touch {marker}"]\nmodel_type: SRModel\n')
    with pytest.raises(OptionError, match='refused YAML tag'):
        load_options(str(y))
    assert not marker.exists()


def test_network_kwargs_checked_against_constructor(tmp_path, photos_dir):
    from srkit.archs import build_network
    with pytest.raises(OptionError, match=r'network_g.num_feats: unknown key \(known: num_block, num_feat'):
        build_network({'type': 'MSRResNet', 'num_feats': 8})
    with pytest.raises(OptionError, match=r'network_g.num_block: expected an integer, got str'):
        build_network({'type': 'MSRResNet', 'num_block': 'four'})


def test_cli_reports_bad_key_on_one_line_with_exit_2(tmp_path, photos_dir):
    y = write_yaml(tmp_path / 'o.yml', tiny_options(tmp_path, photos_dir, **{'train.total_iters': 5}))
    r = call_cli('train', '-opt', y)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == ['srkit-train: error: train.total_iters: unknown key '
                                             '(known: accum_iter, amp, channels_last, compile, ema_decay, ema_power, '
                                             'ema_update_after_step, grad_clip, losses, nonfinite, optim_g, '
                                             'perceptual_opt, pixel_opt, scheduler, tf32, '
                                             'total_iter, warmup_iter)']
    assert 'Traceback' not in r.stderr


def test_shipped_recipes_parse(tmp_path, photos_dir):
    import glob
    import os
    from conftest import ROOT
    for path in sorted(glob.glob(os.path.join(ROOT, 'options', '*.yml'))):
        from srkit.options import read_yaml
        data = read_yaml(path)
        # the recipes point at weights trained earlier
        over = [f'path.{k}=' for k in data.get('path', {}) if k.startswith('pretrain_network_')]
        for split, d in data.get('datasets', {}).items():
            over.append(f'datasets.{split}.io_backend.type=disk')
            for key in ('dataroot_gt', 'dataroot_a', 'dataroot_b', 'dataroot_ab'):
                if key in d:
                    over.append(f'datasets.{split}.{key}={photos_dir / "hr"}')
            if 'dataroot' in d:  # class folders
                over.append(f'datasets.{split}.dataroot={photos_dir}')
            if 'dataroot_lq' in d:
                over.append(f'datasets.{split}.dataroot_lq={photos_dir / "lr_x2"}')
        opt = load_options(path, over)
        assert opt.train.total_iter > 0 and opt.networks and all(n['type'] for n in opt.networks.values())
