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
                                f'datasets.val.dataroot_lq={div2k_x234 / f"x{scale}"}',
                                f'path.pretrain_network_g={pre}'])
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


# ------------------------------------------------------------------ ECBSR's luma recipes, LDL


def test_luma_is_matlab_rgb2ycbcr_as_basicsr_computes_it():
    from srkit.compat import import_basicsr
    from srkit.data.transforms import rgb_to_y
    img = photo('astronaut')[:40, :50].astype(np.float32)
    theirs = import_basicsr('basicsr.utils.color_util').bgr2ycbcr(img[..., ::-1], y_only=True)
    ours = rgb_to_y(img)
    assert ours.shape == (40, 50, 1) and np.abs(ours[..., 0] - theirs).max() < 1e-6


def test_ldl_artifact_map_equals_basicsr():
    from srkit.compat import import_basicsr
    from srkit.losses.ldl import artifact_map
    g = torch.Generator().manual_seed(0)
    gt, out, ema = (torch.rand(2, 3, 24, 20, generator=g) for _ in range(3))
    out.requires_grad_(True)
    theirs = import_basicsr('basicsr.losses.loss_util').get_refined_artifact_map(gt, out, ema, 7)
    ours = artifact_map(gt, out, ema, 7)
    assert ours.shape == (2, 1, 24, 20) and (ours == 0).any() and (ours > 0).any()
    assert torch.allclose(ours, theirs, rtol=1e-6, atol=1e-9)
    a, = torch.autograd.grad(ours.sum(), out)  # the map carries the output's gradient, as LDL's code does
    b, = torch.autograd.grad(theirs.sum(), out)
    assert torch.allclose(a, b, rtol=1e-5, atol=1e-8)


def test_ecbsr_recipe_trains_on_luma(div2k_x234, tmp_path):
    """BasicSR's train_ECBSR_x4_m4c16_prelu: LMDBs in the recipe (here folders), ``color: y`` on the
    train and four val sets, a 1-channel ECBSR."""
    extra = ['datasets.train.io_backend.type=disk', 'datasets.train.gt_size=64']  # LMDBs in the recipe
    for v in ('val', 'val_2', 'val_3', 'val_4'):  # Set5 ... Urban100's LR files are named <name>x4
        extra += [f'datasets.{v}.dataroot_gt={div2k_x234 / "hr"}', f'datasets.{v}.dataroot_lq={div2k_x234 / "x4"}',
                  f"datasets.{v}.filename_tmpl='{{}}'"]
    log = _train('basicsr/train_ECBSR_x4_m4c16_prelu.yml', div2k_x234, 4, tmp_path, *extra)
    assert 'network_g: ECBSR x4 (num_in_ch 1, num_out_ch 1' in log and 'l_pix' in log
    assert '[val val @ 1] psnr' in log and '[val val_4 @ 1] psnr' in log


def test_a_luma_set_needs_a_one_channel_network(div2k_x234, tmp_path):
    from srkit.errors import OptionError
    from srkit.options import load_options
    recipe = os.path.join(ROOT, 'tests', 'fixtures', 'basicsr', 'train_ECBSR_x4_m4c16_prelu.yml')
    over = [f'datasets.{v}.{k}={div2k_x234 / d}' for v in ('train', 'val', 'val_2', 'val_3', 'val_4')
            for k, d in (('dataroot_gt', 'hr'), ('dataroot_lq', 'x4'))] + [
        'datasets.train.meta_info_file=~', 'network_g.num_in_ch=3', 'network_g.num_out_ch=3']
    with pytest.raises(OptionError, match=r'^datasets.train.color: y gives 1-channel images, but network_g reads 3'):
        load_options(recipe, over)


@pytest.mark.slow  # the recipe's RRDBNet, U-Net discriminator and VGG19
def test_ldl_recipe_trains_an_iteration(tmp_path, vgg_cache):
    """BasicSR's train_LDL_Real_x4: RealESRGANModel with ``ldl_opt`` (logged as l_g_ldl), validated on a
    SingleImageDataset of LQ photos (outputs saved, nothing scored)."""
    from srkit.utils.imgio import write_image
    for i, (n, t, l) in enumerate([('astronaut', 0, 0), ('coffee', 100, 200), ('chelsea', 60, 120)]):
        write_image(str(tmp_path / 'DF2K' / f'{i:04d}.png'), photo(n)[t:t + 96, l:l + 96])
        write_image(str(tmp_path / 'RealWorld38' / f'{i:04d}.png'), photo(n)[t:t + 24, l:l + 24])
    (tmp_path / 'meta.txt').write_text(''.join(f'{i:04d}.png\n' for i in range(3)))
    over = [f'datasets.train.dataroot_gt={tmp_path / "DF2K"}', f'datasets.train.meta_info={tmp_path / "meta.txt"}',
            f'datasets.val.dataroot_lq={tmp_path / "RealWorld38"}', 'path.pretrain_network_g=~', 'num_gpu=0',
            'datasets.train.batch_size_per_gpu=2', 'datasets.train.num_worker_per_gpu=0', 'gt_size=64',
            'datasets.train.gt_size=64', 'queue_size=4', 'train.total_iter=1', 'val.val_freq=1',
            f'path.experiments_root={tmp_path / "exp"}', 'logger.use_tb_logger=false']
    r = call_cli('train', '-opt', os.path.join(ROOT, 'tests', 'fixtures', 'basicsr', 'train_LDL_Real_x4.yml'),
                 *[x for o in over for x in ('--force', o)])
    assert r.returncode == 0, r.stderr[-2000:]
    exp = next((tmp_path / 'exp').iterdir())
    log = next(exp.glob('train_*.log')).read_text()
    assert 'l_g_ldl' in log and 'l_g_pix' in log and 'l_g_gan' in log
    assert sorted(os.listdir(exp / 'visualization' / 'val')) == ['0000_1.png', '0001_1.png', '0002_1.png']


def test_ldl_needs_an_ema_and_a_gt_free_set_no_psnr(tmp_path):
    from srkit.errors import OptionError
    from srkit.options import load_options
    from srkit.utils.imgio import write_image
    write_image(str(tmp_path / 'hr' / 'a.png'), photo('coffee')[:96, :96])
    (tmp_path / 'meta.txt').write_text('a.png\n')
    recipe = os.path.join(ROOT, 'tests', 'fixtures', 'basicsr', 'train_LDL_Real_x4.yml')
    over = [f'datasets.train.dataroot_gt={tmp_path / "hr"}', f'datasets.train.meta_info={tmp_path / "meta.txt"}',
            f'datasets.val.dataroot_lq={tmp_path / "hr"}', 'path.pretrain_network_g=~']
    assert load_options(recipe, over).train.ema_decay == 0.999
    with pytest.raises(OptionError, match=r"^train.ldl_opt: LDL's artifact map compares the output with the EMA"):
        load_options(recipe, over + ['train.ema_decay=0'])
    with pytest.raises(OptionError, match=r'^val.metrics.psnr: compares with a ground truth, and datasets.val '
                                          r'\(SingleImageDataset\) has none'):
        load_options(recipe, over + ['val.metrics.psnr.type=calculate_psnr'])
