"""BasicSR's and Real-ESRGAN's recipes for the architectures srkit trains through spandrel and
basicsr (tests/fixtures, key for key as the projects ship them): each trains an iteration with
only its data and pretrain paths changed and batch, workers and iterations set for a CPU.
``strict_load_g: false`` loads a pretrain of another scale as basicsr does: every tensor that
fits, one warning line per key skipped."""
import os

import numpy as np
import pytest
import torch

from conftest import ROOT, call_cli, photo


@pytest.fixture(scope='module')
def div2k_x234(tmp_path_factory):
    """96-px HR sub-images named as DIV2K's, with bicubic x2, x3 and x4 LR folders."""
    from degradations.pipelines import bicubic
    from srkit.utils.imgio import write_image
    root = tmp_path_factory.mktemp('div2k_x234')
    lines = []
    for i, (n, t, l) in enumerate([('astronaut', 0, 0), ('coffee', 100, 200), ('chelsea', 60, 120)]):
        hr = np.rint(photo(n)[t:t + 96, l:l + 96] * 255) / 255
        write_image(str(root / 'hr' / f'{i + 1:04d}_s001.png'), hr)
        for s in (2, 3, 4):
            write_image(str(root / f'x{s}' / f'{i + 1:04d}_s001.png'), bicubic(hr, s)[0])
        lines.append(f'{i + 1:04d}_s001.png (96,96,3)')
    (root / 'meta_info.txt').write_text('\n'.join(lines) + '\n')  # BasicSR's meta_info_DIV2K800sub_GT layout
    return root


def _train(recipe: str, root, scale: int, tmp_path, *extra):
    over = [f'datasets.train.dataroot_gt={root / "hr"}', f'datasets.train.dataroot_lq={root / f"x{scale}"}',
            f'datasets.val.dataroot_gt={root / "hr"}', f'datasets.val.dataroot_lq={root / f"x{scale}"}',
            'num_gpu=0', 'datasets.train.batch_size_per_gpu=2', 'datasets.train.num_worker_per_gpu=0',
            'datasets.train.gt_size=48',
            'train.total_iter=1', 'val.val_freq=1', f'path.experiments_root={tmp_path / "exp"}',
            'logger.use_tb_logger=false', *extra]
    if 'meta_info_file' in open(os.path.join(ROOT, 'tests', 'fixtures', recipe)).read():
        over.append(f'datasets.train.meta_info_file={root / "meta_info.txt"}')
    r = call_cli('train', '-opt', os.path.join(ROOT, 'tests', 'fixtures', recipe),
                 *[x for o in over for x in ('--force', o)])
    assert r.returncode == 0, r.stderr[-2000:]
    return next((tmp_path / 'exp').glob('*/train_*.log')).read_text()


@pytest.mark.slow  # the recipes' full-size networks
@pytest.mark.parametrize('recipe,arch', [('basicsr/train_EDSR_Mx2.yml', 'EDSR'), ('basicsr/train_RCAN_x2.yml', 'RCAN'),
                                         ('basicsr/train_SwinIR_SRx2_scratch.yml', 'SwinIR')])
def test_basicsr_recipes_of_upstream_architectures_train_an_iteration(recipe, arch, div2k_x234, tmp_path):
    log = _train(recipe, div2k_x234, 2, tmp_path)
    assert f'network_g: {arch} x2 (' in log and 'l_pix' in log and '[val val @ 1] psnr' in log


def _basicsr_msrresnet_x4(path):
    """A BasicSR-trained MSRResNet x4 file, as basicsr's own class and save call make it."""
    from srkit.compat import import_basicsr
    torch.manual_seed(3)
    net = import_basicsr('basicsr.archs.srresnet_arch').MSRResNet(3, 3, 64, 16, upscale=4)
    torch.save({'params': net.state_dict()}, path)
    return net.state_dict()


@pytest.mark.parametrize('scale', [2, 3])
def test_msrresnet_recipes_load_the_x4_pretrain_as_basicsr_does(scale, div2k_x234, tmp_path):
    """train_MSRResNet_x2/x3 with BasicSR's x4 pretrain and ``strict_load_g: false``: the tensors of
    the same shape load (checked on the network srkit builds, before any step), each other key is
    one warning line, as basicsr's ``_print_different_keys_loading`` reports them."""
    from srkit.compat import import_basicsr
    from srkit.options import load_options
    from srkit.archs import build_network
    from srkit.utils.checkpoint import load_network
    pre = tmp_path / 'net_g_1000000.pth'
    sd4 = _basicsr_msrresnet_x4(pre)
    recipe = os.path.join(ROOT, 'tests', 'fixtures', 'basicsr', f'train_MSRResNet_x{scale}.yml')
    theirs = import_basicsr('basicsr.archs.srresnet_arch').MSRResNet(3, 3, 64, 16, upscale=scale).state_dict()
    skipped = sorted(k for k in sd4 if k not in theirs or sd4[k].shape != theirs[k].shape)
    missing = sorted(k for k in theirs if k not in sd4)
    assert skipped  # x4 has an upconv2 and a wider upconv1
    # the network srkit builds from the recipe, loaded as srkit-train loads it
    opt = load_options(recipe, [f'datasets.train.dataroot_gt={div2k_x234 / "hr"}',
                                f'datasets.train.dataroot_lq={div2k_x234 / f"x{scale}"}',
                                f'datasets.val.dataroot_gt={div2k_x234 / "hr"}',
                                f'datasets.val.dataroot_lq={div2k_x234 / f"x{scale}"}', f'path.pretrain_network_g={pre}'])
    net = build_network(opt.network_g)
    lines = []
    load_network(net, str(pre), 'params', strict=opt.path.pretrain['g'].strict, warn=lines.append)
    for k, v in net.state_dict().items():
        if k in sd4 and k not in skipped:
            assert torch.equal(v, sd4[k]), k
    assert sorted(line.split("'")[1] for line in lines) == sorted(skipped + missing)
    assert all(line.startswith(str(pre)) and line.count('\n') == 0 for line in lines)
    log = _train(f'basicsr/train_MSRResNet_x{scale}.yml', div2k_x234, scale, tmp_path, f'path.pretrain_network_g={pre}')
    assert f'network_g: MSRResNet x{scale} (' in log and 'l_pix' in log
    for k in skipped:
        assert f"{pre}: '{k}' " in log
