"""A model family whose batches hold no ``lq``/``gt`` validates through its own ``val_pair``,
with no edit to the trainer: a denoiser on ``noisy``/``clean`` pairs."""
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import Dataset

from srkit.config import DatasetOptions, IntIn
from srkit.metrics import psnr, quantize, ssim
from srkit.models.base import BaseModel
from srkit.options import parse_options
from srkit.registry import ARCH_REGISTRY, DATASET_REGISTRY, MODEL_REGISTRY
from srkit.trainer import train
from srkit.utils.checkpoint import load_checkpoint
from conftest import tiny_options


class _NoisyPatchesOptions(DatasetOptions):
    first: IntIn(0, 10000) = 0  # the seed of the first patch: train and val sets differ
    count: IntIn(1, 64) = 4
    size: IntIn(4, 64) = 16


@DATASET_REGISTRY.register()
class _NoisyPatches(Dataset):
    """``{'noisy', 'clean'}``: random colour patches and the same with Gaussian noise; no ``key``."""

    Options = _NoisyPatchesOptions

    def __init__(self, opt):
        self.opt = opt

    def __len__(self):
        return self.opt.count

    def __getitem__(self, idx):
        i = idx[0] if isinstance(idx, tuple) else idx  # the train sampler's (index, seed)
        g = torch.Generator().manual_seed(self.opt.first + i)
        s = self.opt.size
        clean = F.interpolate(torch.rand(1, 3, s // 4, s // 4, generator=g), size=(s, s), mode='bilinear')[0]
        noisy = (clean + 0.1 * torch.randn(3, s, s, generator=g)).clamp(0, 1)
        return {'noisy': noisy, 'clean': clean}


@ARCH_REGISTRY.register()
class _TinyDenoiser(nn.Module):
    def __init__(self, num_feat: int = 4):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, num_feat, 3, 1, 1), nn.ReLU(), nn.Conv2d(num_feat, 3, 3, 1, 1))

    def forward(self, x):
        return x + self.body(x)


@MODEL_REGISTRY.register()
class _DenoiseModel(BaseModel):
    network_names = ('g',)
    optimizer_names = ('g',)

    def __init__(self, opt, ctx):
        super().__init__(opt, ctx)
        self.net_g = self.build_net('g')
        self.build_optimizer('g', self.nets['g'].parameters())
        self.build_ema('g')

    def train_step(self, batch):
        loss = F.l1_loss(self.net_g(batch['noisy']), batch['clean'])
        self.step('g', loss)
        return {'l_pix': loss.detach()}

    @torch.no_grad()
    def val_pair(self, batch):
        net = self.inference_net('g')
        was = net.training
        net.eval()
        try:
            return net(batch['noisy'].to(self.device)).clamp(0, 1), batch['clean'].to(self.device)
        finally:
            net.train(was)


METRICS = {'psnr': {'type': 'calculate_psnr', 'crop_border': 0, 'test_y_channel': False},
           'ssim': {'type': 'calculate_ssim', 'crop_border': 0, 'test_y_channel': False}}


def test_a_family_without_lq_and_gt_validates_through_its_val_pair(tmp_path, photos_dir):
    total = 4
    data = {'io_backend': {'type': 'disk'}, 'num_worker_per_gpu': 0}
    opt = parse_options(tiny_options(tmp_path, photos_dir, **{
        'name': 'denoise', 'model_type': '_DenoiseModel', 'scale': 1, 'network_g': {'type': '_TinyDenoiser'},
        'train.pixel_opt': None, 'train.total_iter': total, 'train.channels_last': False,
        'datasets.train': {'name': 't', 'type': '_NoisyPatches', 'count': 4, 'batch_size_per_gpu': 2, **data},
        'datasets.val': {'name': 'v', 'type': '_NoisyPatches', 'first': 100, 'count': 3, **data},
        'val': {'val_freq': total, 'save_img': True, 'metrics': METRICS}}))
    assert train(opt, quiet=True) == 0
    exp = tmp_path / 'exp' / 'denoise'

    # the same network and data, scored here: the EMA weights saved at the last iteration, run on
    # each val pair, rounded to 8-bit levels, each metric's mean over the images
    net = _TinyDenoiser()
    net.load_state_dict(load_checkpoint(str(exp / 'models' / f'net_g_{total}.pth'))['params_ema'])
    net.eval()
    val = _NoisyPatches(opt.datasets['val'])
    sums = {'psnr': 0.0, 'ssim': 0.0}
    with torch.no_grad():
        for i in range(len(val)):
            pair = val[i]
            out = quantize(net(pair['noisy'][None]).clamp(0, 1).float())
            sums['psnr'] += psnr(out, pair['clean'][None], 0, False).item()
            sums['ssim'] += ssim(out, pair['clean'][None], 0, False).item()
    expected = {k: v / len(val) for k, v in sums.items()}

    # the values training's validation found (kept, exact, as the best so far), and its log line
    best = load_checkpoint(str(exp / 'training_states' / f'{total}.state'))['best']
    assert best == {'val/psnr': (expected['psnr'], total), 'val/ssim': (expected['ssim'], total)}, (best, expected)
    log = next(exp.glob('train_denoise_*.log')).read_text()
    assert f'[val val @ {total}] psnr {expected["psnr"]:.4f} ssim {expected["ssim"]:.4f} (3 images;' in log
    # a dataset without keys: its images are saved under their index in the val set
    assert sorted(p.name for p in (exp / 'visualization' / 'val').iterdir()) == [
        f'{i:06d}_{total}.png' for i in range(3)]
