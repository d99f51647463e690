"""Other projects' files as they are: BasicSR's recipes (their exact structure, reproduced here),
its metric names, and deleting a recipe's key with --force."""
import numpy as np
import pytest

from conftest import call_cli, photo
from srkit.errors import OptionError
from srkit.options import apply_override, load_options

# BasicSR's options/train/SRResNet_SRGAN/train_MSRResNet_x4.yml, key for key (comments shortened)
BASICSR_MSRRESNET_X4 = """\
# general settings
name: 001_MSRResNet_x4_f64b16_DIV2K_1000k_B16G1_wandb
model_type: SRModel
scale: 4
num_gpu: 1  # set num_gpu: 0 for cpu mode
manual_seed: 0

# dataset and data loader settings
datasets:
  train:
    name: DIV2K
    type: PairedImageDataset
    dataroot_gt: datasets/DF2K/DIV2K_train_HR_sub
    dataroot_lq: datasets/DF2K/DIV2K_train_LR_bicubic_X4_sub
    meta_info_file: basicsr/data/meta_info/meta_info_DIV2K800sub_GT.txt
    filename_tmpl: '{}'
    io_backend:
      type: disk

    gt_size: 128
    use_hflip: true
    use_rot: true

    # data loader
    num_worker_per_gpu: 6
    batch_size_per_gpu: 16
    dataset_enlarge_ratio: 100
    prefetch_mode: ~

  val:
    name: Set5
    type: PairedImageDataset
    dataroot_gt: datasets/Set5/GTmod12
    dataroot_lq: datasets/Set5/LRbicx4
    io_backend:
      type: disk

  val_2:
    name: Set14
    type: PairedImageDataset
    dataroot_gt: datasets/Set14/GTmod12
    dataroot_lq: datasets/Set14/LRbicx4
    io_backend:
      type: disk

# network structures
network_g:
  type: MSRResNet
  num_in_ch: 3
  num_out_ch: 3
  num_feat: 64
  num_block: 16
  upscale: 4

# path
path:
  pretrain_network_g: ~
  param_key_g: params
  strict_load_g: true
  resume_state: ~

# training settings
train:
  ema_decay: 0.999
  optim_g:
    type: Adam
    lr: !!float 2e-4
    weight_decay: 0
    betas: [0.9, 0.99]

  scheduler:
    type: CosineAnnealingRestartLR
    periods: [250000, 250000, 250000, 250000]
    restart_weights: [1, 1, 1, 1]
    eta_min: !!float 1e-7

  total_iter: 1000000
  warmup_iter: -1  # no warm up

  # losses
  pixel_opt:
    type: L1Loss
    loss_weight: 1.0
    reduction: mean

# validation settings
val:
  val_freq: !!float 5e3
  save_img: false

  metrics:
    psnr: # metric name, can be arbitrary
      type: calculate_psnr
      crop_border: 4
      test_y_channel: false
      better: higher  # the higher, the better. Default: higher
    niqe:
      type: calculate_niqe
      crop_border: 4
      better: lower  # the lower, the better

# logging settings
logger:
  print_freq: 100
  save_checkpoint_freq: !!float 5e3
  use_tb_logger: true
  wandb:
    project: ~
    resume_id: ~

# dist training settings
dist_params:
  backend: nccl
  port: 29500
"""


@pytest.fixture(scope='module')
def div2k_like(tmp_path_factory):
    """128-px HR sub-images named as DIV2K's, their bicubic x4 LR, and a BasicSR meta_info file
    (``name (h,w,c)`` lines)."""
    from degradations.pipelines import bicubic
    from srkit.utils.imgio import write_image
    root = tmp_path_factory.mktemp('div2k')
    lines = []
    for i, (n, t, l) in enumerate([('astronaut', 0, 0), ('coffee', 100, 200), ('chelsea', 60, 120),
                                   ('rocket', 50, 300)]):
        hr = np.rint(photo(n)[t:t + 128, l:l + 128] * 255) / 255
        write_image(str(root / 'hr' / f'{i + 1:04d}_s001.png'), hr)
        write_image(str(root / 'lr' / f'{i + 1:04d}_s001.png'), bicubic(hr, 4)[0])
        lines.append(f'{i + 1:04d}_s001.png (128,128,3)')
    (root / 'meta_info.txt').write_text('\n'.join(lines) + '\n')
    (root / 'train_MSRResNet_x4.yml').write_text(BASICSR_MSRRESNET_X4)
    return root


def _cpu_iteration(root, tmp_path):
    """Only the data paths changed, and batch, workers and crop overridden for a CPU iteration."""
    over = [f'datasets.train.dataroot_gt={root / "hr"}', f'datasets.train.dataroot_lq={root / "lr"}',
            f'datasets.train.meta_info_file={root / "meta_info.txt"}']
    for split in ('val', 'val_2'):
        over += [f'datasets.{split}.dataroot_gt={root / "hr"}', f'datasets.{split}.dataroot_lq={root / "lr"}']
    over += ['num_gpu=0', 'datasets.train.batch_size_per_gpu=2', 'datasets.train.num_worker_per_gpu=0',
             'datasets.train.gt_size=64', 'train.total_iter=1', 'val.val_freq=1',
             f'path.experiments_root={tmp_path / "exp"}', 'logger.use_tb_logger=false']
    return [x for o in over for x in ('--force', o)]


def test_basicsr_msrresnet_recipe_trains_and_validates_with_niqe(div2k_like, tmp_path):
    r = call_cli('train', '-opt', div2k_like / 'train_MSRResNet_x4.yml', *_cpu_iteration(div2k_like, tmp_path),
                '--force', 'network_g.num_feat=16', '--force', 'network_g.num_block=2')
    assert r.returncode == 0, r.stderr[-2000:]
    log = next((tmp_path / 'exp').glob('*/train_*.log')).read_text()
    val = [ln for ln in log.splitlines() if '[val val @ 1]' in ln]
    assert len(val) == 1 and ' psnr ' in val[0] and ' niqe ' in val[0] and 'NIQE on Y' in val[0]
    niqe = float(val[0].split(' niqe ')[1].split()[0])
    assert 2 < niqe < 100  # a number, not n/a: 128-px images minus the crop leave NIQE's 96-px block
    assert '[val val_2 @ 1]' in log


def test_force_tilde_deletes_a_key(div2k_like, tmp_path):
    r = call_cli('train', '-opt', div2k_like / 'train_MSRResNet_x4.yml', *_cpu_iteration(div2k_like, tmp_path),
                '--force', '~val.metrics.niqe', '--force', '~datasets.val_2', '--force', 'network_g.num_feat=8',
                '--force', 'network_g.num_block=1')
    assert r.returncode == 0, r.stderr[-2000:]
    log = next((tmp_path / 'exp').glob('*/train_*.log')).read_text()
    assert ' niqe ' not in log and '[val val_2' not in log and '[val val @ 1] psnr' in log
    data = {'val': {'metrics': {'psnr': {}}}}
    from srkit.utils.naming import field_names
    with field_names({'force': '--force'}), pytest.raises(OptionError, match=r'^--force ~val.metrics.niqe: no key val.metrics.niqe to delete$'):
        apply_override(data, '~val.metrics.niqe')
    with field_names({'force': '--force'}), pytest.raises(OptionError, match=r'^--force ~train.x: train is not a mapping in the options$'):
        apply_override(data, '~train.x')


@pytest.mark.parametrize('metric', ['calculate_psnr', 'calculate_ssim', 'calculate_niqe', 'psnr', 'ssim', 'niqe',
                                    'lpips'])
def test_basicsr_and_pyiqa_metric_names_validate(div2k_like, metric):
    over = [f'datasets.train.dataroot_gt={div2k_like / "hr"}', f'datasets.train.dataroot_lq={div2k_like / "lr"}',
            f'datasets.train.meta_info_file={div2k_like / "meta_info.txt"}', '~datasets.val', '~datasets.val_2',
            '~val.metrics.niqe', '~val.metrics.psnr', f'val.metrics.m={{type: {metric}, crop_border: 4}}']
    opt = load_options(str(div2k_like / 'train_MSRResNet_x4.yml'), over)
    m = opt.val.metrics['m']
    assert m.kind == metric.replace('calculate_', '')
    assert m.higher_is_better == (m.kind in ('psnr', 'ssim'))


# Real-ESRGAN's options/train_realesrnet_x4plus.yml, key for key
REALESRNET_X4PLUS = """\
name: train_RealESRNetx4plus_1000k_B12G4_fromESRGAN
model_type: RealESRNetModel
scale: 4
num_gpu: 4
manual_seed: 0

gt_usm: True  # USM the ground-truth

resize_prob: [0.2, 0.7, 0.1]  # up, down, keep
resize_range: [0.15, 1.5]
gaussian_noise_prob: 0.5
noise_range: [1, 30]
poisson_scale_range: [0.05, 3]
gray_noise_prob: 0.4
jpeg_range: [30, 95]

second_blur_prob: 0.8
resize_prob2: [0.3, 0.4, 0.3]  # up, down, keep
resize_range2: [0.3, 1.2]
gaussian_noise_prob2: 0.5
noise_range2: [1, 25]
poisson_scale_range2: [0.05, 2.5]
gray_noise_prob2: 0.4
jpeg_range2: [30, 95]

gt_size: 256
queue_size: 180

datasets:
  train:
    name: DF2K+OST
    type: RealESRGANDataset
    dataroot_gt: datasets/DF2K
    meta_info: data/meta_info/meta_info_DF2Kmultiscale+OST_sub.txt
    io_backend:
      type: disk

    blur_kernel_size: 21
    kernel_list: ['iso', 'aniso', 'generalized_iso', 'generalized_aniso', 'plateau_iso', 'plateau_aniso']
    kernel_prob: [0.45, 0.25, 0.12, 0.03, 0.12, 0.03]
    sinc_prob: 0.1
    blur_sigma: [0.2, 3]
    betag_range: [0.5, 4]
    betap_range: [1, 2]

    blur_kernel_size2: 21
    kernel_list2: ['iso', 'aniso', 'generalized_iso', 'generalized_aniso', 'plateau_iso', 'plateau_aniso']
    kernel_prob2: [0.45, 0.25, 0.12, 0.03, 0.12, 0.03]
    sinc_prob2: 0.1
    blur_sigma2: [0.2, 1.5]
    betag_range2: [0.5, 4]
    betap_range2: [1, 2]

    final_sinc_prob: 0.8

    gt_size: 256
    use_hflip: True
    use_rot: False

    use_shuffle: true
    num_worker_per_gpu: 5
    batch_size_per_gpu: 12
    dataset_enlarge_ratio: 1
    prefetch_mode: ~

network_g:
  type: RRDBNet
  num_in_ch: 3
  num_out_ch: 3
  num_feat: 64
  num_block: 23
  num_grow_ch: 32

path:
  pretrain_network_g: experiments/pretrained_models/ESRGAN_SRx4_DF2KOST_official-ff704c30.pth
  param_key_g: params_ema
  strict_load_g: true
  resume_state: ~

train:
  ema_decay: 0.999
  optim_g:
    type: Adam
    lr: !!float 2e-4
    weight_decay: 0
    betas: [0.9, 0.99]

  scheduler:
    type: MultiStepLR
    milestones: [1000000]
    gamma: 0.5

  total_iter: 1000000
  warmup_iter: -1  # no warm up

  pixel_opt:
    type: L1Loss
    loss_weight: 1.0
    reduction: mean

logger:
  print_freq: 100
  save_checkpoint_freq: !!float 5e3
  use_tb_logger: true
  wandb:
    project: ~
    resume_id: ~

dist_params:
  backend: nccl
  port: 29500
"""


@pytest.fixture(scope='module')
def df2k_ost(tmp_path_factory):
    """Real-ESRGAN's data layout: HR sub-images in two source folders under one root, and a
    meta_info listing them relative to that root (its generate_meta_info.py's format)."""
    from srkit.utils.imgio import write_image
    root = tmp_path_factory.mktemp('df2k')
    lines = []
    for i, (folder, n, t, l) in enumerate([('DF2K_HR_sub', 'astronaut', 0, 0), ('DF2K_HR_sub', 'coffee', 100, 200),
                                           ('OST/animal', 'chelsea', 60, 120), ('OST/building', 'rocket', 50, 300)]):
        write_image(str(root / 'DF2K' / folder / f'{i:06d}_s001.png'), photo(n)[t:t + 96, l:l + 96])
        lines.append(f'{folder}/{i:06d}_s001.png')
    (root / 'meta_info_DF2Kmultiscale+OST_sub.txt').write_text('\n'.join(lines) + '\n')
    (root / 'train_realesrnet_x4plus.yml').write_text(REALESRNET_X4PLUS)
    return root


@pytest.mark.slow  # full-size networks, as the recipes have them
def test_realesrnet_recipe_with_its_meta_info_trains_an_iteration(df2k_ost, tmp_path):
    over = [f'datasets.train.dataroot_gt={df2k_ost / "DF2K"}',
            f'datasets.train.meta_info={df2k_ost / "meta_info_DF2Kmultiscale+OST_sub.txt"}',
            'path.pretrain_network_g=~', 'num_gpu=0', 'datasets.train.batch_size_per_gpu=2',
            'datasets.train.num_worker_per_gpu=0', 'gt_size=64', 'datasets.train.gt_size=64',
            'datasets.train.crop_pad_size=96', 'queue_size=4', 'train.total_iter=1',
            f'path.experiments_root={tmp_path / "exp"}', 'logger.use_tb_logger=false']
    r = call_cli('train', '-opt', df2k_ost / 'train_realesrnet_x4plus.yml', *[x for o in over for x in ('--force', o)])
    assert r.returncode == 0, r.stderr[-2000:]
    log = next((tmp_path / 'exp').glob('*/train_*.log')).read_text()
    assert '4 training images' in log and 'l_pix' in log
    opt = load_options(str(df2k_ost / 'train_realesrnet_x4plus.yml'), over)
    assert [(t.name, t.target) for t in opt.loss_terms] == [('l_pix', 'gt_usm')]  # gt_usm: True
    opt = load_options(str(df2k_ost / 'train_realesrnet_x4plus.yml'), over + ['gt_usm=false'])
    assert [(t.name, t.target) for t in opt.loss_terms] == [('l_pix', 'gt')]


def test_realesrgan_meta_info_errors_and_lmdb(df2k_ost, tmp_path):
    from srkit.data import build_dataset
    bad = tmp_path / 'meta.txt'
    bad.write_text('DF2K_HR_sub/000000_s001.png\nOST/animal/missing.png\n')
    over = [f'datasets.train.dataroot_gt={df2k_ost / "DF2K"}', f'datasets.train.meta_info={bad}',
            'path.pretrain_network_g=~']
    from srkit.errors import DataError
    with pytest.raises(DataError, match=r'lists 1 image\(s\) missing from .*OST/animal/missing.png \(meta_info paths '
                                        r'are relative to dataroot_gt\)'):
        build_dataset(load_options(str(df2k_ost / 'train_realesrnet_x4plus.yml'), over).datasets['train'])
    # an LMDB dataroot_gt: the recipe's meta_info is ignored, the LMDB's own keys are used (as Real-ESRGAN)
    r = call_cli('lmdb', '--input', df2k_ost / 'DF2K' / 'DF2K_HR_sub', '--output', tmp_path / 'hr.lmdb')
    assert r.returncode == 0, r.stderr
    opt = load_options(str(df2k_ost / 'train_realesrnet_x4plus.yml'),
                       [f'datasets.train.dataroot_gt={tmp_path / "hr.lmdb"}', 'datasets.train.io_backend.type=lmdb',
                        f'datasets.train.meta_info={bad}', 'path.pretrain_network_g=~'])
    ds = build_dataset(opt.datasets['train'])
    assert len(ds) == 2 and ds[(0, 1)]['gt'].shape[0] == 3


def test_realesrgan_paired_dataset_reads_its_pair_list(df2k_ost, tmp_path):
    from degradations.pipelines import bicubic
    from srkit.data import build_dataset
    from srkit.utils.imgio import read_image, write_image
    lines = []
    for rel in (df2k_ost / 'meta_info_DF2Kmultiscale+OST_sub.txt').read_text().split():
        hr = read_image(str(df2k_ost / 'DF2K' / rel))
        write_image(str(tmp_path / 'LQ' / rel.replace('.png', 'x4.png')), bicubic(hr, 4)[0])
        lines.append(f'{rel}, {rel.replace(".png", "x4.png")}')
    (tmp_path / 'pairs.txt').write_text('\n'.join(lines) + '\n')
    opt = load_options(str(df2k_ost / 'train_realesrnet_x4plus.yml'), [
        'model_type=RealESRGANModel', '~gt_usm', 'high_order_degradation=false',
        'datasets.train={type: RealESRGANPairedDataset, gt_size: 64, use_hflip: true, use_rot: false}',
        f'datasets.train.dataroot_gt={df2k_ost / "DF2K"}', f'datasets.train.dataroot_lq={tmp_path / "LQ"}',
        f'datasets.train.meta_info={tmp_path / "pairs.txt"}', 'path.pretrain_network_g=~',
        'network_d={type: UNetDiscriminatorSN, num_feat: 8}', 'train.optim_d={type: Adam}',
        'train.gan_opt={type: GANLoss}'])
    ds = build_dataset(opt.datasets['train'])
    s = ds[(2, 7)]
    assert len(ds) == 4 and s['gt'].shape == (3, 64, 64) and s['lq'].shape == (3, 16, 16)
    assert ds.lq_key(ds.keys[2]) == 'OST/animal/000002_s001x4'
    (tmp_path / 'bad.txt').write_text('DF2K_HR_sub/000000_s001.png\n')
    from srkit.errors import DataError
    with pytest.raises(DataError, match=r'bad.txt:1: expected "gt_path, lq_path"'):
        build_dataset(load_options(str(df2k_ost / 'train_realesrnet_x4plus.yml'), [
            'model_type=RealESRGANModel', '~gt_usm', 'high_order_degradation=false',
            'datasets.train={type: RealESRGANPairedDataset, gt_size: 64}',
            f'datasets.train.dataroot_gt={df2k_ost / "DF2K"}', f'datasets.train.dataroot_lq={tmp_path / "LQ"}',
            f'datasets.train.meta_info={tmp_path / "bad.txt"}', 'path.pretrain_network_g=~',
            'network_d={type: UNetDiscriminatorSN, num_feat: 8}', 'train.optim_d={type: Adam}',
            'train.gan_opt={type: GANLoss}']).datasets['train'])


def _old_esrgan_layout(sd: dict, n_block: int) -> dict:
    """srkit/BasicSR RRDBNet keys -> the original ESRGAN repository's (``model.N``, ``RDBk.convj.0``),
    whose flattened Sequential puts each upsampling conv after an Upsample, then the HR convs."""
    ups = sorted(k.split('.')[0] for k in sd if k.startswith('conv_up') and k.endswith('.weight'))
    idx = {'conv_first': 0}
    i = 3
    for u in ups:  # Upsample, conv, LeakyReLU per stage
        idx[u] = i
        i += 3
    idx['conv_hr'], idx['conv_last'] = i - 1 + 0, i + 1  # HR conv0, LeakyReLU, HR conv1
    out = {}
    for k, v in sd.items():
        head, rest = k.split('.', 1)
        if head == 'body':
            b, rdb, conv, t = rest.split('.')
            out[f'model.1.sub.{b}.{rdb.upper()}.{conv}.0.{t}'] = v
        elif head == 'conv_body':
            out[f'model.1.sub.{n_block}.{rest}'] = v
        else:
            out[f'model.{idx[head]}.{rest}'] = v
    return out


def _kair_layout(sd: dict) -> dict:
    names = {'conv_body': 'trunk_conv', 'conv_up1': 'upconv1', 'conv_up2': 'upconv2', 'conv_hr': 'HRconv'}
    out = {}
    for k, v in sd.items():
        head, rest = k.split('.', 1)
        if head == 'body':
            b, rdb, conv, t = rest.split('.')
            out[f'RRDB_trunk.{b}.{rdb.upper()}.{conv}.{t}'] = v
        else:
            out[f'{names.get(head, head)}.{rest}'] = v
    return out


@pytest.mark.parametrize('layout', ['old_esrgan', 'kair'])
@pytest.mark.parametrize('scale', [2, 4])
def test_x2_and_x4_rrdb_files_in_esrgan_and_kair_layouts(tmp_path, layout, scale):
    import torch
    from srkit.archs import build_network
    from srkit.inference import load_generator
    cfg = {'type': 'RRDBNet', 'scale': scale, 'num_feat': 8, 'num_block': 2, 'num_grow_ch': 4}
    if scale == 2:
        cfg['pixel_unshuffle'] = False  # their x2 networks upsample once, without pixel-unshuffle
    torch.manual_seed(0)
    net = build_network(cfg).eval()
    sd = _old_esrgan_layout(net.state_dict(), 2) if layout == 'old_esrgan' else _kair_layout(net.state_dict())
    torch.save(sd, tmp_path / 'BSRGANx2.pth')  # a bare state dict, as both projects save
    g, got, s = load_generator(str(tmp_path / 'BSRGANx2.pth'))
    assert got == {**cfg, 'num_in_ch': 3, 'num_out_ch': 3} and s == scale
    x = torch.rand(1, 3, 12, 10)
    with torch.no_grad():
        assert torch.equal(g(x), net(x))


def test_dsgan_training_checkpoint_tar_as_the_authors_save_it(tmp_path, photos_dir):
    """dsgan/train.py saves epoch, iteration, both networks, both Adam optimizers and both LambdaLR
    schedulers in one .tar; srkit-infer and srkit-degrade --method dsgan take the generator from it."""
    import os
    import torch
    from srkit.archs import build_network
    torch.manual_seed(0)
    g = build_network({'type': 'DSGANGenerator', 'num_feat': 8, 'num_block': 2})
    d = build_network({'type': 'DSGANDiscriminator', 'num_feat': 8})
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=[0.5, 0.999])
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=[0.5, 0.999])
    g(torch.rand(1, 3, 8, 8)).mean().backward()
    opt_g.step()  # an optimizer state with tensors in it, as after training
    rule = lambda e: 1.0 if e < 100 else 0.5  # noqa: E731  (the authors' lambda)
    sched_g = torch.optim.lr_scheduler.LambdaLR(opt_g, lr_lambda=rule)
    sched_d = torch.optim.lr_scheduler.LambdaLR(opt_d, lr_lambda=rule)
    torch.save({'epoch': 3, 'iteration': 300, 'model_g_state_dict': g.state_dict(),
                'models_d_state_dict': d.state_dict(), 'optimizer_g_state_dict': opt_g.state_dict(),
                'optimizer_d_state_dict': opt_d.state_dict(), 'scheduler_g_state_dict': sched_g.state_dict(),
                'scheduler_d_state_dict': sched_d.state_dict()}, tmp_path / 'iteration_300.tar')
    r = call_cli('infer', '--model', tmp_path / 'iteration_300.tar', '--input', photos_dir / 'lr_x2',
                '--output', tmp_path / 'out')
    assert r.returncode == 0, r.stderr
    assert 'DSGANGenerator x1 (' in r.stdout and len(os.listdir(tmp_path / 'out')) == 6
    r = call_cli('degrade', '--input', photos_dir / 'hr', '--output', tmp_path / 'lr', '--method', 'dsgan',
                '--model', tmp_path / 'iteration_300.tar', '--scale', '2')
    assert r.returncode == 0, r.stderr
    from srkit.degrading import load_dsgan_generator
    net = load_dsgan_generator(str(tmp_path / 'iteration_300.tar'))
    for k, v in g.state_dict().items():
        assert torch.equal(net.state_dict()[k], v), k


def test_resume_from_a_basicsr_training_state(tmp_path, photos_dir):
    """basicsr's own SRModel trains two steps and saves (models/net_g_2.pth, training_states/2.state);
    srkit-train resumes from that .state: BasicSR's weights, EMA, optimizer and scheduler, at iteration 2."""
    import copy
    import logging
    import torch
    from conftest import tiny_options
    from srkit.compat import import_basicsr
    from srkit.options import parse_options
    from srkit.trainer import Trainer
    logging.getLogger('basicsr').setLevel(logging.WARNING)
    exp = tmp_path / 'basicsr_exp'
    for sub in ('models', 'training_states'):
        (exp / sub).mkdir(parents=True)
    net = {'type': 'MSRResNet', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 8, 'num_block': 1, 'upscale': 2}
    train = {'ema_decay': 0.9, 'optim_g': {'type': 'Adam', 'lr': 1e-3, 'weight_decay': 0, 'betas': [0.9, 0.99]},
             'scheduler': {'type': 'MultiStepLR', 'milestones': [6], 'gamma': 0.5}, 'total_iter': 12,
             'warmup_iter': -1, 'pixel_opt': {'type': 'L1Loss', 'loss_weight': 1.0, 'reduction': 'mean'}}
    bopt = {'name': 'x', 'model_type': 'SRModel', 'scale': 2, 'num_gpu': 0, 'is_train': True, 'dist': False,
            'rank': 0, 'world_size': 1, 'network_g': net,
            'path': {'pretrain_network_g': None, 'param_key_g': 'params', 'strict_load_g': True,
                     'resume_state': None, 'models': str(exp / 'models'),
                     'training_states': str(exp / 'training_states')},
            'train': train, 'logger': {'print_freq': 1}, 'val': None}
    torch.manual_seed(0)
    ref = import_basicsr('basicsr.models.sr_model').SRModel(copy.deepcopy(bopt))
    for it in (1, 2):
        ref.feed_data({'lq': torch.rand(2, 3, 16, 16), 'gt': torch.rand(2, 3, 32, 32)})
        ref.update_learning_rate(it)
        ref.optimize_parameters(it)
    ref.save(0, 2)
    o = tiny_options(tmp_path, photos_dir, **{'path.resume_state': str(exp / 'training_states' / '2.state')})
    o['network_g'] = {k: v for k, v in net.items()}
    o.pop('val')
    t = Trainer(parse_options(o), quiet=True)
    assert t.start_iter == 2
    for k, v in ref.net_g.state_dict().items():
        assert torch.equal(t.model.nets['g'].state_dict()[k], v), k
        assert torch.equal(t.model.emas['g'].state_dict()[k], ref.net_g_ema.state_dict()[k]), k
    mine, theirs = t.model.optimizers['g'].state_dict(), ref.optimizers[0].state_dict()
    for i, s in theirs['state'].items():
        assert torch.equal(mine['state'][i]['exp_avg'], s['exp_avg'])
    assert t.model.schedulers['g'].last_epoch == ref.schedulers[0].last_epoch
    assert t.fit() == 0
    log = next((tmp_path / 'exp' / 'tiny').glob('train_*.log')).read_text()
    assert "resumed from BasicSR's" in log and 'iteration 12' in log
    # a state for another model is one line
    o['model_type'] = 'ESRGANModel'
    o['network_d'] = {'type': 'UNetDiscriminatorSN', 'num_feat': 8}
    o['train']['optim_d'] = {'type': 'Adam'}
    o['train']['gan_opt'] = {'type': 'GANLoss'}
    from srkit.errors import UserError
    with pytest.raises(UserError, match=r'2.state: its network file models/net_d_2.pth \(or .safetensors\) is '
                                        r'missing from .* \(ESRGANModel has networks g, d\)$'):
        Trainer(parse_options(o), quiet=True)
    torch.save({'params': {'conv0.weight': torch.zeros(1)}}, exp / 'models' / 'net_d_2.pth')
    with pytest.raises(UserError, match=r"net_d_2.pth: shape mismatch at 'conv0.weight'"):
        Trainer(parse_options(o), quiet=True)
    from srkit.archs import build_network
    torch.save({'params': build_network(o['network_d']).state_dict()}, exp / 'models' / 'net_d_2.pth')
    with pytest.raises(UserError, match=r'2.state: holds 1 optimizer state\(s\); ESRGANModel here has 2 \(g, d\)'):
        Trainer(parse_options(o), quiet=True)


def test_cyclegan_checkpoint_folders_and_use_dropout(tmp_path, photos_dir):
    """pytorch-CycleGAN-and-pix2pix's checkpoints/<name>/ (latest_net_G_A.pth, <epoch>_net_G_B.pth, plain
    state dicts) through --model DIR --net; a U-Net trained with --no_dropout (CycleGAN's default) run in
    train mode needs --use-dropout false, since the keys cannot tell."""
    import os
    import torch
    from srkit.archs import build_network
    from srkit.utils.imgio import read_image
    ckpt = tmp_path / 'checkpoints' / 'edges2shoes'
    ckpt.mkdir(parents=True)
    torch.manual_seed(0)
    cfg = {'type': 'UnetGenerator', 'num_downs': 7, 'ngf': 4, 'norm': 'batch', 'use_dropout': False}
    g_a = build_network(cfg)
    torch.save(g_a.state_dict(), ckpt / 'latest_net_G_A.pth')
    torch.save(g_a.state_dict(), ckpt / '5_net_G_A.pth')
    torch.save(build_network(cfg).state_dict(), ckpt / '5_net_G_B.pth')
    torch.save(build_network(cfg).state_dict(), ckpt / '10_net_G_B.pth')
    from srkit.cli.infer import pick_network_file
    assert pick_network_file(str(ckpt), 'g_a') == str(ckpt / 'latest_net_G_A.pth')
    assert pick_network_file(str(ckpt), 'g_b') == str(ckpt / '10_net_G_B.pth')
    f = sorted(os.listdir(photos_dir / 'hr'))[0]
    outs = {}
    for name, extra in (('no_flag', []), ('flag', ['--use-dropout', 'false'])):
        r = call_cli('infer', '--model', ckpt, '--net', 'g_a', '--inference-mode', 'train', *extra,
                    '--input', photos_dir / 'hr', '--output', tmp_path / name)
        assert r.returncode == 0, r.stderr
        outs[name] = read_image(str(tmp_path / name / f))
    x = torch.from_numpy(read_image(str(photos_dir / 'hr' / f)).transpose(2, 0, 1).copy())[None]
    g_a.train()  # the reference's test.py without --eval: batch statistics, and no dropout in this net
    padded = torch.nn.functional.pad(x, (0, 32, 0, 32), mode='reflect')  # 96 -> a multiple of 2**7
    with torch.no_grad():
        want = ((g_a(padded * 2 - 1) + 1) / 2).clamp(0, 1)[0, :, :96, :96].permute(1, 2, 0).numpy()
    assert np.abs(outs['flag'] - np.rint(want * 255) / 255).max() <= 1 / 255 + 1e-6
    assert np.abs(outs['no_flag'] - outs['flag']).max() > 10 / 255  # dropout the model never had


def _realesrgan_gan_recipe(realesrnet: str, scale: int) -> str:
    """Real-ESRGAN's train_realesrgan_x{2,4}plus.yml: the Real-ESRNet recipe's degradation and data, with
    the GAN model's USM flags for gt_usm, the U-Net SN discriminator, the multi-layer perceptual loss
    and GAN 0.1 (its keys, as upstream writes them)."""
    text = realesrnet.replace('model_type: RealESRNetModel', 'model_type: RealESRGANModel')
    text = text.replace('gt_usm: True  # USM the ground-truth', 'l1_gt_usm: True\npercep_gt_usm: True\ngan_gt_usm: False')
    text = text.replace('scale: 4\n', f'scale: {scale}\n', 1).replace('num_gpu: 4', 'num_gpu: auto')
    text = text.replace('  num_grow_ch: 32\n', f'  num_grow_ch: 32\n  scale: {scale}\n' if scale != 4 else '  num_grow_ch: 32\n')
    text = text.replace("""    betas: [0.9, 0.99]

  scheduler:""", """    betas: [0.9, 0.99]
  optim_d:
    type: Adam
    lr: !!float 1e-4
    weight_decay: 0
    betas: [0.9, 0.99]

  scheduler:""")
    text = text.replace('path:\n', """network_d:
  type: UNetDiscriminatorSN
  num_in_ch: 3
  num_feat: 64
  skip_connection: True

path:
""")
    return text.replace("""    type: L1Loss
    loss_weight: 1.0
    reduction: mean
""", """    type: L1Loss
    loss_weight: 1.0
    reduction: mean
  perceptual_opt:
    type: PerceptualLoss
    layer_weights:
      'conv1_2': 0.1
      'conv2_2': 0.1
      'conv3_4': 1
      'conv4_4': 1
      'conv5_4': 1
    vgg_type: vgg19
    use_input_norm: true
    perceptual_weight: !!float 1.0
    style_weight: 0
    range_norm: false
    criterion: l1
  gan_opt:
    type: GANLoss
    gan_type: vanilla
    real_label_val: 1.0
    fake_label_val: 0.0
    loss_weight: !!float 1e-1

  net_d_iters: 1
  net_d_init_iters: 0
""")


@pytest.mark.slow  # full-size networks, as the recipes have them
@pytest.mark.parametrize('scale', [2, 4])
def test_realesrgan_gan_recipes_train_an_iteration(df2k_ost, tmp_path, vgg_cache, scale):
    (tmp_path / 'r.yml').write_text(_realesrgan_gan_recipe(REALESRNET_X4PLUS, scale))
    over = [f'datasets.train.dataroot_gt={df2k_ost / "DF2K"}',
            f'datasets.train.meta_info={df2k_ost / "meta_info_DF2Kmultiscale+OST_sub.txt"}',
            'path.pretrain_network_g=~', 'num_gpu=0', 'datasets.train.batch_size_per_gpu=2',
            'datasets.train.num_worker_per_gpu=0', 'gt_size=64', 'datasets.train.gt_size=64',
            'datasets.train.crop_pad_size=96', 'queue_size=4', 'train.total_iter=1',
            f'path.experiments_root={tmp_path / "exp"}', 'logger.use_tb_logger=false']
    r = call_cli('train', '-opt', tmp_path / 'r.yml', *[x for o in over for x in ('--force', o)])
    assert r.returncode == 0, r.stderr[-2000:]
    log = next((tmp_path / 'exp').glob('*/train_*.log')).read_text()
    assert 'l_g_percep' in log and 'l_g_gan' in log and 'l_d_real' in log
    assert f'network_g: RRDBNet x{scale} (' in log



@pytest.mark.slow  # full-size networks, as the recipes have them
@pytest.mark.parametrize('recipe', ['train_RRDBNet_PSNR_x4', 'train_MSRGAN_x4', 'train_ESRGAN_x4'])
def test_basicsr_recipes_train_an_iteration(div2k_like, tmp_path, vgg_cache, recipe):
    """BasicSR's own recipe files (tests/fixtures/basicsr), full-size networks, only the data and
    pretrain paths changed and batch, workers and iterations overridden for a CPU iteration."""
    import os
    from conftest import ROOT
    over = [f'datasets.train.dataroot_gt={div2k_like / "hr"}', f'datasets.train.dataroot_lq={div2k_like / "lr"}',
            f'datasets.val.dataroot_gt={div2k_like / "hr"}', f'datasets.val.dataroot_lq={div2k_like / "lr"}',
            'path.pretrain_network_g=~', 'num_gpu=0', 'datasets.train.batch_size_per_gpu=2',
            'datasets.train.num_worker_per_gpu=0', 'train.total_iter=1', 'val.val_freq=1',
            f'path.experiments_root={tmp_path / "exp"}', 'logger.use_tb_logger=false']
    r = call_cli('train', '-opt', os.path.join(ROOT, 'tests', 'fixtures', 'basicsr', f'{recipe}.yml'),
                *[x for o in over for x in ('--force', o)])
    assert r.returncode == 0, r.stderr[-2000:]
    log = next((tmp_path / 'exp').glob('*/train_*.log')).read_text()
    assert '[val val @ 1] psnr' in log
    assert ('l_g_gan' in log and 'l_g_percep' in log) if 'GAN' in recipe else 'l_pix' in log


@pytest.mark.slow  # full-size networks, as the recipe has them
def test_realesrnet_x2plus_recipe_starts_from_the_x4plus_file(df2k_ost, tmp_path):
    """Real-ESRGAN's train_realesrnet_x2plus (tests/fixtures/realesrgan) from RealESRGAN_x4plus.pth
    (``params_ema``, ``strict_load_g: False``): the x2 RRDBNet reads a 12-channel pixel-unshuffled
    input, so conv_first is skipped with one warning line; every other tensor is the file's."""
    import os
    import torch
    from conftest import ROOT
    from srkit.compat import import_basicsr
    from srkit.utils.checkpoint import load_checkpoint
    torch.manual_seed(0)
    g = import_basicsr('basicsr.archs.rrdbnet_arch').RRDBNet(3, 3, num_feat=64, num_block=23, num_grow_ch=32)
    pre = tmp_path / 'RealESRGAN_x4plus.pth'
    torch.save({'params_ema': g.state_dict()}, pre)
    over = [f'datasets.train.dataroot_gt={df2k_ost / "DF2K"}',
            f'datasets.train.meta_info={df2k_ost / "meta_info_DF2Kmultiscale+OST_sub.txt"}',
            f'path.pretrain_network_g={pre}', 'num_gpu=0', 'datasets.train.batch_size_per_gpu=2',
            'datasets.train.num_worker_per_gpu=0', 'gt_size=64', 'datasets.train.gt_size=64',
            'datasets.train.crop_pad_size=96', 'queue_size=4', 'train.total_iter=1', 'train.ema_decay=0',
            f'path.experiments_root={tmp_path / "exp"}', 'logger.use_tb_logger=false']
    r = call_cli('train', '-opt', os.path.join(ROOT, 'tests', 'fixtures', 'realesrgan', 'train_realesrnet_x2plus.yml'),
                 *[x for o in over for x in ('--force', o)])
    assert r.returncode == 0, r.stderr[-2000:]
    exp = next((tmp_path / 'exp').iterdir())
    log = next(exp.glob('train_*.log')).read_text()
    assert 'network_g: RRDBNet x2 (' in log
    warned = [ln for ln in log.splitlines() if f'{pre}: ' in ln and 'skipped' in ln]
    assert len(warned) == 1 and "'conv_first.weight' has shape (64, 3, 3, 3), the network (64, 12, 3, 3)" in warned[0]
    saved = load_checkpoint(str(exp / 'models' / 'net_g_latest.pth'))['params']
    drift = max((saved[k] - v).abs().max().item() for k, v in g.state_dict().items() if k != 'conv_first.weight')
    assert drift < 5e-4  # one Adam step at lr 2e-4 from the file's weights


def _realesrgan_released_weights(root) -> tuple:
    """RealESRNet_x4plus.pth (``params_ema``) and RealESRGAN_x4plus_netD.pth (``params``) as Real-ESRGAN
    releases them: basicsr's own RRDBNet and UNetDiscriminatorSN, saved with torch.save."""
    import torch
    from srkit.compat import import_basicsr
    torch.manual_seed(0)
    g = import_basicsr('basicsr.archs.rrdbnet_arch').RRDBNet(3, 3, num_feat=64, num_block=23, num_grow_ch=32)
    d = import_basicsr('basicsr.archs.discriminator_arch').UNetDiscriminatorSN(3, num_feat=64, skip_connection=True)
    d(torch.rand(1, 3, 64, 64))  # a forward pass, so the spectral-norm vectors are not their initial ones
    paths = (root / 'RealESRNet_x4plus.pth', root / 'RealESRGAN_x4plus_netD.pth')
    torch.save({'params_ema': g.state_dict()}, paths[0])
    torch.save({'params': d.state_dict()}, paths[1])
    return paths, g.state_dict(), d.state_dict()


@pytest.mark.slow  # full-size networks, as the recipes have them
@pytest.mark.parametrize('recipe', ['finetune_realesrgan_x4plus', 'finetune_realesrgan_x4plus_pairdata'])
def test_realesrgan_finetune_recipes_train_an_iteration(df2k_ost, tmp_path, vgg_cache, recipe):
    """Real-ESRGAN's two fine-tuning recipes (tests/fixtures/realesrgan), started from released-layout
    G and D files: only data and pretrain paths changed, batch, workers and crop overridden."""
    import os
    from conftest import ROOT
    from degradations.pipelines import bicubic
    from srkit.utils.checkpoint import load_checkpoint
    from srkit.utils.imgio import read_image, write_image
    (g_path, d_path), g_sd, d_sd = _realesrgan_released_weights(tmp_path)
    over = [f'datasets.train.dataroot_gt={df2k_ost / "DF2K"}', f'path.pretrain_network_g={g_path}',
            f'path.pretrain_network_d={d_path}', 'num_gpu=0', 'datasets.train.batch_size_per_gpu=2',
            'datasets.train.num_worker_per_gpu=0', 'datasets.train.gt_size=64', 'train.total_iter=1',
            f'path.experiments_root={tmp_path / "exp"}', 'logger.use_tb_logger=false']
    if recipe.endswith('pairdata'):  # generate_meta_info_pairdata.py's "gt, lq" lines, both under one root
        lines = []
        for rel in (df2k_ost / 'meta_info_DF2Kmultiscale+OST_sub.txt').read_text().split():
            hr, lq = read_image(str(df2k_ost / 'DF2K' / rel)), f'LR_x4/{rel}'
            write_image(str(tmp_path / 'DF2K' / rel), hr)
            write_image(str(tmp_path / 'DF2K' / lq), bicubic(hr, 4)[0])
            lines.append(f'{rel}, {lq}')
        (tmp_path / 'pairs.txt').write_text('\n'.join(lines) + '\n')
        over[0] = f'datasets.train.dataroot_gt={tmp_path / "DF2K"}'
        over += [f'datasets.train.dataroot_lq={tmp_path / "DF2K"}',
                 f'datasets.train.meta_info={tmp_path / "pairs.txt"}']
    else:
        over += [f'datasets.train.meta_info={df2k_ost / "meta_info_DF2Kmultiscale+OST_sub.txt"}', 'gt_size=64',
                 'datasets.train.crop_pad_size=96', 'queue_size=4']
    r = call_cli('train', '-opt', os.path.join(ROOT, 'tests', 'fixtures', 'realesrgan', f'{recipe}.yml'),
                *[x for o in over for x in ('--force', o)])
    assert r.returncode == 0, r.stderr[-2000:]
    exp = next((tmp_path / 'exp').iterdir())
    log = next(exp.glob('train_*.log')).read_text()
    assert '4 training images' in log and 'l_g_percep' in log and 'l_g_gan' in log and 'l_d_real' in log
    # one Adam step at lr 1e-4 moves no weight by much more than 1e-4: both networks started from the files
    for name, sd in (('g', g_sd), ('d', d_sd)):
        saved = load_checkpoint(str(exp / 'models' / f'net_{name}_latest.pth'))['params']
        assert saved.keys() == sd.keys()
        drift = max((saved[k].float() - sd[k].float()).abs().max().item() for k in sd if k.endswith('weight')
                    or k.endswith('weight_orig') or k.endswith('bias'))
        assert drift < 5e-4, (name, drift)
