"""Tiled inference: seamless blending, size multiples, and srkit-infer's tiling options."""
import numpy as np
import pytest
import torch

from srkit.archs import build_network
from srkit.inference import run_generator
from srkit.utils.tiling import _ramp, tiled_forward
from srkit.utils.imgio import read_image, write_image
from conftest import call_cli, photo


def test_windows_of_a_shared_overlap_sum_to_one():
    n, ov, stride = 40, 16, 24
    a = _ramp(n, ov, False, True)
    b = _ramp(n, ov, True, False)
    both = torch.zeros(stride + n)
    both[:n] += a
    both[stride:] += b
    assert torch.allclose(both, torch.ones_like(both), atol=1e-12)
    assert float(a[-ov * 3 // 8:].abs().max()) == 0  # the outer 3/8, short of context, gets no weight
    assert float(a[-ov * 3 // 8 - 1]) > 0
    assert torch.equal(_ramp(n, ov, False, False), torch.ones(n))


# overlaps that cover each net's receptive field (pixel-unshuffle widens it by its factor)
@pytest.mark.parametrize('cfg,tiles', [
    ({'type': 'MSRResNet', 'num_feat': 8, 'num_block': 1, 'upscale': 2}, ((24, 16), (32, 24), (48, 32))),
    ({'type': 'RRDBNet', 'num_feat': 8, 'num_block': 1, 'num_grow_ch': 4, 'scale': 4}, ((24, 16), (48, 32))),
    ({'type': 'RRDBNet', 'num_feat': 8, 'num_block': 1, 'num_grow_ch': 4, 'scale': 2}, ((32, 24), (48, 32))),
    ({'type': 'RRDBNet', 'num_feat': 8, 'num_block': 1, 'num_grow_ch': 4, 'scale': 1}, ((48, 32), (56, 48))),
])
def test_tiled_equals_untiled_when_the_overlap_covers_the_receptive_field(cfg, tiles):
    torch.manual_seed(0)
    net = build_network(cfg).eval()
    x = torch.rand(1, 3, 61, 77)  # odd sizes: padded to the network's multiple, cropped back
    with torch.no_grad():
        whole = run_generator(net, x)
        s = cfg.get('scale', cfg.get('upscale'))
        assert whole.shape == (1, 3, 61 * s, 77 * s)
        for tile, overlap in tiles:
            tiled = run_generator(net, x, tile=tile, overlap=overlap)
            assert tiled.shape == whole.shape
            err = float((tiled - whole).abs().max())
            assert err <= 1 / 255, (tile, overlap, err)
            if cfg['type'] == 'MSRResNet' and overlap >= 24:
                # 3/8 of the overlap (9 px) covers its receptive-field radius (5 px): exact
                assert err <= 1e-6, (tile, overlap, err)


def test_only_one_tile_at_a_time_reaches_the_network():
    seen = []

    def fn(t):
        seen.append(tuple(t.shape))
        return torch.nn.functional.interpolate(t, scale_factor=2, mode='nearest')
    x = torch.rand(1, 3, 50, 70)
    y = tiled_forward(fn, x, 32, 8)
    assert torch.allclose(y, torch.nn.functional.interpolate(x, scale_factor=2, mode='nearest'), atol=1e-6)
    # tiles of tile + overlap = 40 pixels, one every 32 (as Real-ESRGAN counts): 2 x 2 of them
    assert seen == [(1, 3, 40, 40)] * 4
    seen.clear()
    tiled_forward(fn, torch.rand(1, 3, 40, 40), 32, 8)
    assert seen == [(1, 3, 40, 40)]  # fits in one tile


def test_infer_cli_tiles_and_checks_its_options(tmp_path):
    torch.manual_seed(0)
    net = build_network({'type': 'RRDBNet', 'num_feat': 8, 'num_block': 1, 'num_grow_ch': 4, 'scale': 2})
    torch.save({'params': net.state_dict()}, tmp_path / 'g.pth')
    write_image(str(tmp_path / 'in' / 'p.png'), photo('coffee')[:70, :90])
    outs = {}
    for name, extra in (('whole', []), ('tiled', ['--tile', '32', '--tile-overlap', '16']),
                        ('bf16', ['--tile', '48', '--precision', 'bf16'])):
        r = call_cli('infer', '--model', tmp_path / 'g.pth', '--input', tmp_path / 'in', '--output', tmp_path / name,
                    '--device', 'cpu', *extra)
        assert r.returncode == 0, r.stderr
        outs[name] = read_image(str(tmp_path / name / 'p.png'))
    assert outs['whole'].shape == (140, 180, 3)
    assert np.abs(outs['tiled'] - outs['whole']).max() <= 1 / 255 + 1e-6
    assert np.abs(outs['bf16'] - outs['whole']).mean() < 0.02  # bf16 keeps ~3 significant digits
    for extra, msg in ((['--tile', '16', '--tile-overlap', '16'], '--tile-overlap 16: must be smaller than --tile 16'),
                       (['--precision', 'fp16'], '--precision fp16: needs a GPU')):
        r = call_cli('infer', '--model', tmp_path / 'g.pth', '--input', tmp_path / 'in', '--output', tmp_path / 'x',
                    '--device', 'cpu', *extra)
        assert r.returncode == 2 and msg in r.stderr


@pytest.mark.parametrize('orientation', range(1, 9))
def test_exif_orientation_matches_pillow(tmp_path, orientation):
    """srkit-infer shows images the way viewers do; Pillow's exif_transpose is the oracle."""
    import io
    from PIL import Image, ImageOps
    from srkit.utils.imgio import apply_orientation, decode, exif_orientation
    rgb = (np.arange(12 * 20 * 3).reshape(12, 20, 3) % 251).astype(np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, 'PNG', exif=exif.tobytes())  # lossless, so pixels compare exactly
    data = buf.getvalue()
    assert exif_orientation(data) == orientation
    want = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert('RGB'))
    got = apply_orientation(decode(data, 'x').rgb, orientation)
    assert np.array_equal(np.rint(got * 255).astype(np.uint8), want)
    if orientation == 6:
        (tmp_path / 'in').mkdir()
        (tmp_path / 'in' / 'p.png').write_bytes(data)
        tif = io.BytesIO()
        Image.fromarray(rgb).save(tif, 'TIFF', exif=exif.tobytes())  # OpenCV turns TIFFs itself: not twice
        (tmp_path / 'in' / 't.tif').write_bytes(tif.getvalue())
        jpg = io.BytesIO()
        Image.fromarray(rgb).save(jpg, 'JPEG', exif=exif.tobytes(), quality=95)  # the usual camera file
        (tmp_path / 'in' / 'j.jpg').write_bytes(jpg.getvalue())
        r = call_cli('infer', '--model', 'bicubic', '--scale', '2', '--input', tmp_path / 'in', '--output', tmp_path / 'o')
        assert r.returncode == 0, r.stderr
        for name in ('p', 't', 'j'):  # stood up: 20 high, 12 wide, x2
            assert read_image(str(tmp_path / 'o' / f'{name}.png')).shape == (40, 24, 3)
