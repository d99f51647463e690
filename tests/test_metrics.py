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
