import math

import numpy as np
import torch

from degradations.kernels import kernel_from_params
from degradations.realesrgan import KernelConfig, filter2d, sample_kernels
from srkit.compat import import_basicsr


def test_filter2d_matches_basicsr_per_sample_and_shared():
    ref = import_basicsr('basicsr.utils.img_process_util').filter2D
    torch.manual_seed(0)
    x = torch.rand(3, 3, 20, 17)
    ks = torch.rand(3, 21, 21)
    ks = ks / ks.sum(dim=(1, 2), keepdim=True)
    for method in ('direct', 'fft', 'auto'):
        torch.testing.assert_close(filter2d(x, ks, method), ref(x, ks), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(filter2d(x, ks[0], method), ref(x, ks[:1]), rtol=1e-5, atol=1e-6)


def test_reflect_pad_equals_cv2_reflect101_beyond_the_image_size():
    import cv2
    from degradations.torch_ops import reflect_pad
    for h, w, pad in [(5, 7, 10), (2, 2, 9), (12, 3, 4), (1, 4, 3)]:
        x = torch.rand(1, 1, h, w)
        ref = cv2.copyMakeBorder(x[0, 0].numpy(), pad, pad, pad, pad, cv2.BORDER_REFLECT_101)
        assert torch.equal(reflect_pad(x, pad)[0, 0], torch.from_numpy(ref))
    # so a 21x21 kernel filters even a 6x6 image (basicsr's filter2D refuses it)
    assert filter2d(torch.rand(2, 3, 6, 6), torch.rand(2, 21, 21)).shape == (2, 3, 6, 6)


def _photo_batch():
    from conftest import photo
    imgs = [photo('astronaut')[100:196, 150:246], photo('coffee')[50:146, 200:296], photo('chelsea')[40:136, 100:196]]
    return torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).contiguous()


def test_jpeg_pt_equals_basicsr_diffjpeg_per_sample_quality():
    from degradations.torch_ops import jpeg_pt
    DiffJPEG = import_basicsr('basicsr.utils.diffjpeg').DiffJPEG
    x = _photo_batch()[:, :, :90, :83]  # not a multiple of 16: both pad
    q = torch.tensor([30.0, 52.5, 95.0])
    ref = DiffJPEG(differentiable=False)(x, quality=q.clone())
    torch.testing.assert_close(jpeg_pt(x, q), ref, rtol=0, atol=1e-5)
    torch.testing.assert_close(jpeg_pt(x, 40), DiffJPEG(differentiable=False)(x, quality=40), rtol=0, atol=1e-5)
    xg = x.clone().requires_grad_(True)
    smooth = jpeg_pt(xg, q, differentiable=True)
    torch.testing.assert_close(smooth, DiffJPEG(differentiable=True)(x, quality=q.clone()), rtol=0, atol=1e-5)
    smooth.mean().backward()
    assert xg.grad is not None and xg.grad.abs().sum() > 0
    assert (jpeg_pt(x, 30) - x).abs().mean() > (jpeg_pt(x, 95) - x).abs().mean()  # lower quality, more loss


def test_usm_sharp_pt_equals_basicsr_usmsharp():
    from degradations.torch_ops import usm_sharp_pt
    USMSharp = import_basicsr('basicsr.utils.img_process_util').USMSharp
    x = _photo_batch()
    got, ref = usm_sharp_pt(x), USMSharp()(x)
    # the hard threshold may flip on float rounding where |residual|*255 is ~10; the soft mask spreads it thinly
    assert (got - ref).abs().max() < 1e-3 and (got - ref).abs().mean() < 1e-6


def test_second_order_equals_basicsr_chain_when_noise_is_zero():
    """With noise switched off (sigma 0, Poisson scale 0), replaying the recorded
    choices through basicsr's own ops gives the same LQ."""
    from degradations.realesrgan import SecondOrderConfig, second_order
    bs = import_basicsr('basicsr.utils.img_process_util')
    DiffJPEG = import_basicsr('basicsr.utils.diffjpeg').DiffJPEG
    F = torch.nn.functional
    gt = _photo_batch()
    rng = np.random.default_rng(3)
    k = torch.from_numpy(np.stack([sample_kernels(rng)[0] for _ in range(3)]))
    cfg = SecondOrderConfig(noise_range=(0, 0), poisson_scale_range=(0, 0), noise_range2=(0, 0),
                            poisson_scale_range2=(0, 0))
    jpeg = DiffJPEG(differentiable=False)
    for seed in range(4):
        lq, gt_usm, p = second_order(gt, k[:, 0], k[:, 1], k[:, 2], 4, torch.Generator().manual_seed(seed), cfg=cfg)
        assert lq.shape == (3, 3, 24, 24) and torch.equal(lq, (lq * 255).round() / 255)
        usm = bs.USMSharp()(gt)
        out = bs.filter2D(usm, k[:, 0])
        out = F.interpolate(out, scale_factor=p['resize1']['scale'], mode=p['resize1']['mode'])
        out = jpeg(torch.clamp(out, 0, 1), quality=p["jpeg1"].clone()).contiguous()
        k2 = torch.stack([k[i, 1] if p['blur2'][i] else torch.eye(21)[10].outer(torch.eye(21)[10]) for i in range(3)])
        out = bs.filter2D(out, k2)
        s2 = p['resize2']['scale']
        out = F.interpolate(out, size=(int(96 / 4 * s2), int(96 / 4 * s2)), mode=p['resize2']['mode'])
        if p['final']['order'] == 'sinc_jpeg':
            out = bs.filter2D(F.interpolate(out, size=(24, 24), mode=p['final']['mode']), k[:, 2])
            out = jpeg(torch.clamp(out, 0, 1), quality=p["jpeg2"].clone()).contiguous()
        else:
            out = jpeg(torch.clamp(out, 0, 1), quality=p["jpeg2"].clone()).contiguous()
            out = bs.filter2D(F.interpolate(out, size=(24, 24), mode=p['final']['mode']), k[:, 2])
        ref = torch.clamp((out * 255).round(), 0, 255) / 255
        diff = (lq - ref).abs()
        # float-order differences may move a value across a rounding edge: one 8-bit step, rarely
        assert diff.max() <= 1 / 255 + 1e-6 and (diff > 0).float().mean() < 0.01, (seed, p['final'])
        torch.testing.assert_close(gt_usm, usm, rtol=0, atol=1e-3)


def test_second_order_draws_per_sample_and_is_reproducible():
    from degradations.realesrgan import second_order
    gt = _photo_batch().repeat(4, 1, 1, 1)  # 12 samples
    rng = np.random.default_rng(0)
    k = torch.from_numpy(np.stack([sample_kernels(rng)[0] for _ in range(12)]))
    a = second_order(gt, k[:, 0], k[:, 1], k[:, 2], 2, torch.Generator().manual_seed(1))
    b = second_order(gt, k[:, 0], k[:, 1], k[:, 2], 2, torch.Generator().manual_seed(1))
    assert torch.equal(a[0], b[0])
    p = a[2]
    assert len(set(p['jpeg1'].tolist())) == 12 and p['jpeg1'].min() >= 30 and p['jpeg1'].max() <= 95
    kinds = p['noise1']['kind'] + p['noise2']['kind']
    assert 'gaussian' in kinds and 'poisson' in kinds  # the noise kind is drawn per sample
    c = second_order(gt, k[:, 0], k[:, 1], k[:, 2], 2, torch.Generator().manual_seed(2))
    assert not torch.equal(a[0], c[0])


def test_degrader_crops_pools_and_resumes_exactly():
    from degradations.realesrgan import Degrader
    gt = _photo_batch()
    rng = np.random.default_rng(0)
    k = torch.from_numpy(np.stack([sample_kernels(rng)[0] for _ in range(3)]))
    d = Degrader(scale=4, gt_size=64, queue_size=5, seed=3)  # 5 is not a multiple of the batch
    for _ in range(3):
        lq, g, g_usm, p = d(gt, k[:, 0], k[:, 1], k[:, 2])
    assert lq.shape == (3, 3, 16, 16) and g.shape == g_usm.shape == (3, 3, 64, 64)
    assert len(set(p['crop']['top'])) > 1 or len(set(p['crop']['left'])) > 1  # crops drawn per sample
    state = d.state_dict()
    assert state['pool']['lq']['u8'].dtype == torch.uint8  # 8-bit data saved losslessly in a quarter of the space
    other = Degrader(scale=4, gt_size=64, queue_size=5, seed=99)
    other.load_state_dict(state)
    for x, y in zip(d(gt, k[:, 0], k[:, 1], k[:, 2])[:3], other(gt, k[:, 0], k[:, 1], k[:, 2])[:3]):
        assert torch.equal(x, y)


def test_sample_kernels_follow_the_recipe_and_replay():
    rng = np.random.default_rng(0)
    n, sinc1, pulse = 400, 0, 0
    for _ in range(n):
        ks, p = sample_kernels(rng)
        assert ks.shape == (3, 21, 21) and ks.dtype == np.float32
        np.testing.assert_allclose(ks.sum(axis=(1, 2)), 1.0, atol=1e-5)
        for i, name in enumerate(('kernel1', 'kernel2', 'sinc')):
            np.testing.assert_allclose(kernel_from_params(p[name]), ks[i], atol=1e-7)
        assert p['kernel1']['size'] in range(7, 22, 2)
        if p['kernel1']['kind'] == 'sinc':
            sinc1 += 1
        elif p['kernel2']['kind'] != 'sinc':
            assert 0.2 <= p['kernel2']['sigma_x'] <= 1.5  # the second stage's narrower sigma range
        if p['sinc']['kind'] == 'pulse':
            pulse += 1
        else:
            assert math.pi / 3 <= p['sinc']['cutoff'] <= math.pi
    assert 0.05 < sinc1 / n < 0.16  # sinc_prob 0.1
    assert 0.13 < pulse / n < 0.28  # final sinc p 0.8
    a = sample_kernels(np.random.default_rng(5), KernelConfig())[1]
    b = sample_kernels(np.random.default_rng(5), KernelConfig())[1]
    assert a == b


def test_gaussian_and_poisson_noise_per_sample():
    from degradations.realesrgan import gaussian_noise_pt, poisson_noise_pt
    g = torch.Generator().manual_seed(0)
    x = torch.full((64, 3, 32, 32), 0.5)
    y, p = gaussian_noise_pt(x, g, (1, 30), gray_prob=0.5)
    std = (y - x).flatten(1).std(1) * 255
    torch.testing.assert_close(std, p['sigma'], rtol=0.08, atol=0.3)  # each sample its own sigma
    d = y - x
    gray = p['gray'].bool()
    assert gray.any() and (~gray).any()
    assert torch.equal(d[gray][:, 0], d[gray][:, 1]) and not torch.equal(d[~gray][:, 0], d[~gray][:, 1])
    y2, _ = gaussian_noise_pt(x, torch.Generator().manual_seed(0), (1, 30), gray_prob=0.5)
    assert torch.equal(y, y2)  # the generator alone fixes the draw
    img = torch.rand(4, 3, 24, 24)
    z, q = poisson_noise_pt(img, torch.Generator().manual_seed(1), (0.05, 3.0), gray_prob=0.0)
    assert z.shape == img.shape and torch.isfinite(z).all()
    # Poisson noise variance grows with intensity (shot noise), unlike Gaussian noise
    dark, bright = torch.full((1, 3, 64, 64), 0.1), torch.full((1, 3, 64, 64), 0.9)
    both = torch.cat([dark, bright])
    n, _ = poisson_noise_pt(both, torch.Generator().manual_seed(2), (1.0, 1.0001), gray_prob=0.0)
    v = (n - both).flatten(1).var(1)
    assert v[1] > 3 * v[0]


def test_pair_pool_any_batch_size_and_resume():
    from degradations.realesrgan import PairPool
    pool = PairPool(size=10)
    g = torch.Generator().manual_seed(0)
    seen = []
    for i in range(8):  # batch 3 does not divide 10: the reference would assert
        lq = torch.full((3, 1, 2, 2), float(i))
        out, gt = pool(lq, lq * 2, g)
        assert out.shape == (3, 1, 2, 2) and torch.equal(gt, out * 2)  # pairs stay paired
        seen.append(out[:, 0, 0, 0].tolist())
    # passes through while filling (batch 3 tops up the last slot), then mixes
    assert seen[0] == [0, 0, 0] and seen[3] == [3, 3, 3] and seen[4] != [4, 4, 4]
    state = pool.state_dict()
    other = PairPool(size=10)
    other.load_state_dict(state)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    nxt = torch.full((3, 1, 2, 2), 9.0)
    assert torch.equal(pool(nxt, nxt, g1)[0], other(nxt, nxt, g2)[0])


def test_noise_kind_per_sample_split_and_fused_paths_agree_on_kinds():
    from degradations.realesrgan import _noise
    from degradations.torch_ops import gaussian_noise_pt, poisson_noise_pt
    x = _photo_batch().repeat(2, 1, 1, 1)[:, :, :32, :32]
    for fused in (False, True):
        out, p = _noise(x, torch.Generator().manual_seed(4), torch.Generator().manual_seed(9), 0.5, (1, 30),
                        (0.05, 3), 0.4, fused=fused)
        kinds = p['kind']
        assert 'gaussian' in kinds and 'poisson' in kinds
        g = [i for i, k in enumerate(kinds) if k == 'gaussian']
        if fused:  # the whole batch is noised both ways with the device generator, then picked per sample
            gen = torch.Generator().manual_seed(9)
            ref_g = gaussian_noise_pt(x, gen, (1, 30), 0.4)[0]
            ref_p = poisson_noise_pt(x, gen, (0.05, 3), 0.4)[0]
        else:  # each kind noises only its own samples
            gen = torch.Generator().manual_seed(9)
            ref_g = torch.zeros_like(x)
            ref_g[g] = gaussian_noise_pt(x[g], gen, (1, 30), 0.4)[0]
            ref_p = torch.zeros_like(x)
            rest = [i for i in range(len(kinds)) if i not in g]
            ref_p[rest] = poisson_noise_pt(x[rest], gen, (0.05, 3), 0.4)[0]
        for i, k in enumerate(kinds):
            assert torch.equal(out[i], torch.clamp((ref_g if k == 'gaussian' else ref_p)[i], 0, 1))


def _still(**over):
    """A second order that adds no noise and keeps the size but for the second resize's, to
    H/scale by area: what is left is what ``over`` sets."""
    from degradations.realesrgan import SecondOrderConfig
    base = dict(resize_prob=(0, 0, 1), resize_prob2=(0, 0, 1), gaussian_noise_prob=0, gaussian_noise_prob2=0,
                poisson_scale_range=(0, 0), poisson_scale_range2=(0, 0), usm_lq=False,
                resize_mode_list2=('area',), resize_mode_prob2=(1,), resize_mode_list3=('area',),
                resize_mode_prob3=(1,))
    return SecondOrderConfig(**{**base, **over})


def test_traiNNer_redux_s_probabilities_of_blur_and_jpeg():
    """blur_prob 0 is a first blur with the identity pulse; jpeg_prob and jpeg_prob2 0 leave only
    the final area downscale, rounded to 8 bits; their defaults (1) keep Real-ESRGAN's draws."""
    from degradations.realesrgan import SecondOrderConfig, second_order
    gt = _photo_batch()
    k = torch.from_numpy(np.stack([sample_kernels(np.random.default_rng(i))[0] for i in range(3)]))
    pulse = torch.zeros(3, 21, 21)
    pulse[:, 10, 10] = 1

    def run(cfg, k1, seed=3):
        return second_order(gt, k1, k[:, 1], k[:, 2], 4, torch.Generator().manual_seed(seed), cfg=cfg)[0]

    assert torch.equal(run(SecondOrderConfig(blur_prob=0), k[:, 0]), run(SecondOrderConfig(), pulse))
    assert not torch.equal(run(SecondOrderConfig(), k[:, 0]), run(SecondOrderConfig(), pulse))
    lq = second_order(gt, pulse, pulse, pulse, 4, torch.Generator().manual_seed(0),
                      cfg=_still(jpeg_prob=0, jpeg_prob2=0, second_blur_prob=0))[0]
    want = torch.clamp((torch.nn.functional.interpolate(gt, size=(24, 24), mode='area') * 255).round(), 0, 255) / 255
    # the same up to the identity filters' float rounding (a level where a value sits on .5)
    assert (lq - want).abs().max() <= 1 / 255 + 1e-6 and (lq - want).abs().mean() < 2e-4
    # half the samples compressed: those differ from the plain downscale, the others do not
    lq, _, p = second_order(gt.repeat(4, 1, 1, 1), pulse.repeat(4, 1, 1), pulse.repeat(4, 1, 1), pulse.repeat(4, 1, 1),
                            4, torch.Generator().manual_seed(1), cfg=_still(jpeg_prob=0, jpeg_prob2=0.5,
                                                                           second_blur_prob=0))
    jpeg = p['jpeg2'] > 0
    assert 0 < int(jpeg.sum()) < 12
    for i in range(12):
        assert ((lq[i] - want[i % 3]).abs().mean() > 1e-3) == bool(jpeg[i])


def test_traiNNer_redux_s_resize_modes():
    """resize_mode_list picks among its modes with its probabilities; with resize_antialias the
    modes are traiNNer-redux's: antialiased bilinear and bicubic, and lanczos."""
    from degradations.realesrgan import _interpolate, second_order
    from degradations.torch_ops import lanczos_resize_pt
    gt = _photo_batch()
    pulse = torch.zeros(3, 21, 21)
    pulse[:, 10, 10] = 1
    for mode in ('nearest-exact', 'bilinear', 'lanczos'):
        cfg = _still(resize_mode_list2=(mode, 'area'), resize_mode_prob2=(1, 0), resize_antialias=True, jpeg_prob=0,
                     jpeg_prob2=0, second_blur_prob=0)
        lq, _, p = second_order(gt, pulse, pulse, pulse, 4, torch.Generator().manual_seed(0), cfg=cfg)
        assert p['resize2']['mode'] == mode
        small = (lanczos_resize_pt(gt, (24, 24)) if mode == 'lanczos' else torch.nn.functional.interpolate(
            gt, size=(24, 24), mode=mode, antialias=mode == 'bilinear').clamp(0, 1))
        want = torch.clamp((small * 255).round(), 0, 255) / 255
        assert (lq - want).abs().max() <= 1 / 255 + 1e-6 and (lq - want).abs().mean() < 2e-4
    # lanczos: a low-pass at the input's resolution before shrinking (a checkerboard averages out,
    # where nearest keeps it),
    # a constant stays constant, the same size is the image
    board = (torch.arange(64).view(8, 8) % 2 + torch.arange(64).view(8, 8).T % 2).remainder(2).float()
    board = board.repeat(8, 8)[None, None].expand(1, 3, 64, 64)
    assert lanczos_resize_pt(board, (21, 21)).std() < 0.05 < 0.4 < _interpolate(board, 'nearest', size=(21, 21)).std()
    torch.testing.assert_close(lanczos_resize_pt(torch.full((1, 3, 30, 40), 0.3), (11, 13)),
                               torch.full((1, 3, 11, 13), 0.3))
    torch.testing.assert_close(lanczos_resize_pt(gt, (96, 96)), gt)


def test_kernel_ranges_per_stage():
    """traiNNer-redux's kernel_range2 and final_kernel_range: each stage's sides from its own range."""
    cfg = KernelConfig(kernel_range=(5,), kernel_range2=(9,), final_kernel_range=(13,), final_sinc_prob=1)
    for seed in range(5):
        _, p = sample_kernels(np.random.default_rng(seed), cfg)
        assert (p['kernel1']['size'], p['kernel2']['size'], p['sinc']['size']) == (5, 9, 13)
