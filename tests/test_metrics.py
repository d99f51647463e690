import numpy as np
import pytest
import torch

from degradations import imresize
from srkit import metrics
from srkit.compat import import_basicsr
from srkit.utils.imgio import img2tensor
from conftest import photo


@pytest.mark.parametrize('name,scale', [('astronaut', 4), ('coffee', 2), ('chelsea', 3), ('rocket', 4)])
def test_psnr_ssim_match_basicsr_on_real_photos(name, scale):
    M = import_basicsr('basicsr.metrics')
    hr = photo(name)
    h, w = hr.shape[:2]
    hr = hr[: h - h % scale, : w - w % scale]
    # a realistic SR stand-in: bicubic down then up, saved as 8-bit
    sr = np.clip(imresize(np.clip(imresize(hr, 1 / scale), 0, 1), scale), 0, 1)
    hr8, sr8 = np.rint(hr * 255), np.rint(sr * 255)
    ref_psnr = M.calculate_psnr(sr8[..., ::-1], hr8[..., ::-1], crop_border=scale, input_order='HWC', test_y_channel=True)
    ref_ssim = M.calculate_ssim(sr8[..., ::-1], hr8[..., ::-1], crop_border=scale, input_order='HWC', test_y_channel=True)
    s, g = img2tensor((sr8 / 255).astype(np.float32))[None], img2tensor((hr8 / 255).astype(np.float32))[None]
    assert abs(metrics.psnr(s, g, scale, True).item() - ref_psnr) < 0.01
    assert abs(metrics.ssim(s, g, scale, True).item() - ref_ssim) < 0.0025
    # RGB convention agrees too
    ref_rgb = M.calculate_psnr(sr8, hr8, crop_border=0, input_order='HWC', test_y_channel=False)
    assert abs(metrics.psnr(s, g, 0, False).item() - ref_rgb) < 0.01


def test_identical_images_and_batch_shape():
    x = torch.rand(3, 3, 32, 32)
    p = metrics.psnr(x, x, 4)
    assert p.shape == (3,) and (p > 70).all()
    s = metrics.ssim(x, x, 4)
    torch.testing.assert_close(s, torch.ones(3, dtype=torch.float64))


def test_ssim_keeps_negative_correlations_as_matlab_and_basicsr():
    """A GAN-like output whose detail is the GT's inverted (negative local correlations): SSIM in the
    papers' convention is negative here, and equals BasicSR's calculate_ssim within 0.0025; pyiqa's
    clamped SSIM would read far higher."""
    from conftest import photo
    from srkit.compat import import_basicsr
    from srkit.metrics import _metric, ssim
    calc = import_basicsr('basicsr.metrics.psnr_ssim').calculate_ssim
    gt = photo('astronaut')[100:196, 200:296]
    tex = np.random.default_rng(0).normal(0, 0.08, gt.shape[:2])[..., None].astype(np.float32)
    hr, sr = (np.rint(np.clip(gt + s * tex, 0, 1) * 255) / 255 for s in (1, -1))
    t = (lambda a: torch.from_numpy(a.transpose(2, 0, 1).copy())[None])
    for y in (True, False):
        ours = ssim(t(sr), t(hr), 4, y).item()
        ref = calc(sr[..., ::-1] * 255, hr[..., ::-1] * 255, 4, input_order='HWC', test_y_channel=y)
        assert ours < 0 and abs(ours - ref) < 0.0025, (y, ours, ref)
    assert _metric('ssim', True, 4, 'cpu')(t(sr), t(hr)).item() > 0.05  # pyiqa's clamp
