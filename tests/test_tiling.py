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


@pytest.mark.parametrize('size, tile, overlap, multiple', [
    ((50, 70), 16, 8, 1), ((61, 77), 24, 16, 1), ((64, 96), 32, 8, 4), ((40, 200), 16, 12, 2), ((30, 30), 32, 8, 1)])
def test_rows_handed_over_as_they_finish_are_the_whole_output(size, tile, overlap, multiple):
    """tiled_forward's sink gets every output row once, top to bottom, equal bit for bit to the
    output it returns without one; it is never handed more than a row of tiles' rows at once."""
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 12, 3, padding=1)

    def fn(t):  # x2, with some context: the blending weights matter
        return torch.nn.functional.pixel_shuffle(conv(t), 2)
    x = torch.rand(1, 3, *size)
    whole = tiled_forward(fn, x, tile, overlap, multiple=multiple)
    got = []
    assert tiled_forward(fn, x, tile, overlap, multiple=multiple, sink=lambda row, b: got.append((row, b.clone()))) \
        is None
    assert [r for r, _ in got] == sorted({r for r, _ in got}) and got[0][0] == 0
    assert max(b.shape[-2] for _, b in got) <= 2 * (max(tile // multiple * multiple, multiple)
                                                     + overlap // multiple * multiple)
    assert torch.equal(torch.cat([b for _, b in got], dim=2), whole)


@pytest.mark.parametrize('kind', ['rgb8', 'rgb16', 'rgba', 'gray_net', 'rgba_net'])
def test_an_image_upscaled_in_integer_rows_equals_the_float_output_rounded(kind):
    """upscale_image, tiled or not, gives what rounding the float output gives (to_uint: srkit's
    8- and 16-bit writes), channels in cv2's order, the alpha in the fourth."""
    from srkit.inference import upscale_image
    from srkit.utils.imgio import Decoded, tensor2img, to_uint
    from degradations import imresize
    torch.manual_seed(0)
    cin = {'gray_net': 1, 'rgba_net': 4}.get(kind, 3)
    net = build_network({'type': 'MSRResNet', 'num_feat': 8, 'num_block': 1, 'upscale': 2,
                         'num_in_ch': cin, 'num_out_ch': cin}).eval()
    rng = np.random.default_rng(0)
    rgb = rng.random((45, 67, 3), dtype=np.float32)
    alpha = rng.random((45, 67), dtype=np.float32) if kind in ('rgba', 'rgba_net') else None
    img = Decoded(rgb, alpha, 16 if kind == 'rgb16' else 8, 3 if alpha is None else 4)
    bits = img.bit_depth
    from srkit.inference import network_input
    from srkit.utils.imgio import img2tensor
    with torch.no_grad():
        y = tensor2img(run_generator(net, img2tensor(network_input(img, cin)).unsqueeze(0)))
    want = to_uint(np.repeat(y, 3, 2) if cin == 1 else y[..., :3], bits)
    if alpha is not None:
        a = y[..., 3] if cin == 4 else np.clip(imresize(alpha, 2), 0, 1)
        want = np.dstack([want, to_uint(a, bits)])
    for tile in (0, 16):
        got = upscale_image(net, img, 2, tile=tile, overlap=16)
        assert got.dtype == want.dtype and got.shape == want.shape
        diff = np.abs(got.astype(np.int64) - want.astype(np.int64)).max()
        assert diff == 0 if tile == 0 else diff <= (2 ** bits - 1) / 255, (tile, diff)


@pytest.mark.parametrize('kind', ['rgb8', 'rgb16', 'rgba_net', 'gray_net'])
def test_srkit_infer_writes_tiled_rows_as_they_finish_and_the_png_is_the_same_image(kind, tmp_path):
    """Tiled, srkit-infer streams PNG rows (PngRows) instead of holding the image: cv2 and
    Pillow decode the file to exactly the image upscale_image returns whole."""
    import cv2
    from PIL import Image
    from srkit.inference import load_generator, read_input, upscale_image
    cin = {'gray_net': 1, 'rgba_net': 4}.get(kind, 3)
    torch.manual_seed(0)
    net = build_network({'type': 'MSRResNet', 'num_feat': 8, 'num_block': 1, 'upscale': 2,
                         'num_in_ch': cin, 'num_out_ch': cin})
    torch.save({'params': net.state_dict()}, tmp_path / 'g.pth')
    src = photo('coffee')[:53, :71]
    if kind == 'rgb16':
        (tmp_path / 'in').mkdir()
        cv2.imwrite(str(tmp_path / 'in' / 'p.png'), np.rint(src[..., ::-1] * 65535).astype(np.uint16))
    else:
        alpha = np.linspace(0, 1, 53 * 71, dtype=np.float32).reshape(53, 71) if kind == 'rgba_net' else None
        write_image(str(tmp_path / 'in' / 'p.png'), src, alpha=alpha)
    r = call_cli('infer', '--model', tmp_path / 'g.pth', '--input', tmp_path / 'in', '--output', tmp_path / 'out',
                 '--tile', '16', '--tile-overlap', '8', '--device', 'cpu')
    assert r.returncode == 0, r.stderr
    net, _, _ = load_generator(str(tmp_path / 'g.pth'), channels_last=True)
    want = upscale_image(net, read_input(str(tmp_path / 'in' / 'p.png')), 2, tile=16, overlap=8)
    got = cv2.imread(str(tmp_path / 'out' / 'p.png'), cv2.IMREAD_UNCHANGED)
    assert got.dtype == want.dtype and np.array_equal(got, want)
    if kind != 'rgb16':  # Pillow reads 16-bit RGB as 8-bit
        rgb = np.asarray(Image.open(tmp_path / 'out' / 'p.png'))
        assert np.array_equal(rgb, np.concatenate([want[..., 2::-1], want[..., 3:]], 2))


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
