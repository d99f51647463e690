"""IC9600 image complexity: the ICNet of Feng et al., "IC9600: A Benchmark Dataset for Automatic
Image Complexity Assessment" (TPAMI 2023), with its released weights.

A detail branch (ResNet-18's stem to layer2 on the 512 px image) and a context branch (the whole
ResNet-18 on the image at 256 px), each stage gated per channel by a small attention module
("slam": a linear map of the stage's 32x32 (or 16, 8) resampled activations), both upsampled to
64x64 and concatenated; a head pools them into one score in [0, 1] (higher: more complex), another
gives a 64x64 complexity map.  The state-dict keys are the released file's (``ck.pth``, re-hosted as
``ic9600.pth``).  Input as the authors' script prepares it: the picture resized to 512x512 (here
torch's antialiased bilinear; their PIL resize differs by well under 1/255 on photos), ImageNet
mean and std.
"""
from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn

URL = 'https://github.com/umzi2/Dataset_Preprocessing/releases/download/IC9600_duplicate/ic9600.pth'
SIZE = 512
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


def weight_path() -> tuple[str, str]:
    """``(cache path, URL)``: torch hub's checkpoint folder, where ``torch.hub`` puts the re-hosted file
    (the authors' ``ck.pth`` from their Google Drive is the same state dict: put it there under this name)."""
    return os.path.join(torch.hub.get_dir(), 'checkpoints', os.path.basename(URL)), URL


class _Gate(nn.Module):
    """Per-channel gate from the activations resampled to ``side x side`` ("slam")."""

    def __init__(self, side: int):
        super().__init__()
        self.side = side
        self.linear = nn.Sequential(nn.Linear(side * side, 512), nn.ReLU(), nn.Linear(512, 1), nn.Sigmoid())

    def forward(self, x):
        n, c, h, w = x.shape
        y = x if h == self.side and w == self.side else F.interpolate(x, size=(self.side, self.side),
                                                                      mode='bilinear', align_corners=True)
        return self.linear(y.reshape(n, c, -1)).unsqueeze(3) * x


class _ConvBnRelu(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int = 3, up: int | None = None):
        super().__init__()
        self.up = up
        self.conv = nn.Conv2d(cin, cout, kernel, padding=kernel // 2)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        if self.up is not None and x.shape[-1] != self.up:
            x = F.interpolate(x, size=(self.up, self.up), mode='bilinear', align_corners=True)
        return F.relu(self.bn(self.conv(x)))


class _ToMap(nn.Module):
    def __init__(self, cin: int):
        super().__init__()
        self.to_map = nn.Sequential(nn.Conv2d(cin, 1, 1), nn.Sigmoid())

    def forward(self, x):
        return self.to_map(x)


class ICNet(nn.Module):
    """``forward((B,3,512,512) ImageNet-normalised RGB) -> (score (B,), map (B,1,64,64))``, both in [0,1]."""

    def __init__(self):
        super().__init__()
        from torchvision.models import resnet18
        r1, r2 = resnet18(weights=None), resnet18(weights=None)  # the released file holds every weight
        self.b1_1 = nn.Sequential(r1.conv1, r1.bn1, r1.relu, r1.maxpool, r1.layer1)
        self.b1_1_slam = _Gate(32)
        self.b1_2 = r1.layer2
        self.b1_2_slam = _Gate(32)
        self.b2_1 = nn.Sequential(r2.conv1, r2.bn1, r2.relu, r2.maxpool, r2.layer1)
        self.b2_1_slam = _Gate(32)
        self.b2_2 = r2.layer2
        self.b2_2_slam = _Gate(32)
        self.b2_3 = r2.layer3
        self.b2_3_slam = _Gate(16)
        self.b2_4 = r2.layer4
        self.b2_4_slam = _Gate(8)
        self.up1 = _ConvBnRelu(128, 256, 1, up=SIZE // 8)
        self.up2 = _ConvBnRelu(512, 256, 1, up=SIZE // 8)
        self.to_map_f = _ConvBnRelu(512, 512)
        self.to_map_f_slam = _Gate(32)
        self.to_map = _ToMap(512)
        self.to_score_f = _ConvBnRelu(512, 512)
        self.to_score_f_slam = _Gate(32)
        self.head = nn.Sequential(nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 1), nn.Sigmoid())

    def forward(self, x):
        detail = self.b1_2_slam(self.b1_2(self.b1_1_slam(self.b1_1(x))))
        context = F.interpolate(x, size=(SIZE // 2, SIZE // 2), mode='bilinear', align_corners=True)
        context = self.b2_2_slam(self.b2_2(self.b2_1_slam(self.b2_1(context))))
        context = self.b2_4_slam(self.b2_4(self.b2_3_slam(self.b2_3(context))))
        both = torch.cat((self.up1(detail), self.up2(context)), dim=1)
        cmap = self.to_map(self.to_map_f_slam(self.to_map_f(both)))
        pooled = self.to_score_f_slam(self.to_score_f(both)).mean((2, 3))
        return self.head(pooled).reshape(-1), cmap


def prepare(x: torch.Tensor) -> torch.Tensor:
    """``(B,3,H,W) RGB [0,1]`` -> the network's input: 512x512, ImageNet mean and std."""
    if x.shape[-2:] != (SIZE, SIZE):
        x = F.interpolate(x, size=(SIZE, SIZE), mode='bilinear', align_corners=False, antialias=True)
    mean = torch.tensor(_MEAN, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    std = torch.tensor(_STD, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x - mean) / std


def load(device='cpu') -> ICNet:
    """ICNet with the released weights from :func:`weight_path` (fetched there when missing, unless
    ``SRKIT_OFFLINE=1``); a missing or mismatched file is one line naming it."""
    from ..errors import UserError
    from ..pretrained import WeightsMissing, missing_weights, offline, read_weights
    path, url = weight_path()
    if not os.path.isfile(path):
        if offline():
            raise WeightsMissing(missing_weights('IC9600', [(path, url)]) + ' (SRKIT_OFFLINE=1: no download attempted)')
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            torch.hub.download_url_to_file(url, path, progress=False)
        except Exception as e:  # offline: URLError, socket errors, ...
            raise WeightsMissing(missing_weights('IC9600', [(path, url)]) +
                                 f' (download failed: {type(e).__name__})') from None
    net = ICNet()
    sd = read_weights(path, "IC9600's ICNet")
    try:
        net.load_state_dict(sd)
    except RuntimeError as e:
        from ..pretrained import state_dict_problem
        raise UserError(f"{path}: does not fit IC9600's ICNet ({state_dict_problem(e)})") from None
    return net.eval().to(device)


def score_fn(net: ICNet):
    """``(B,3,H,W) RGB [0,1] -> (B,)`` float64 complexity scores."""
    @torch.no_grad()
    def fn(x):
        return net(prepare(x.float()))[0].double()
    return fn
