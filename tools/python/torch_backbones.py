#!/usr/bin/env python3
"""PyTorch mirror of the trainer's backbones, loading `backbone.safetensors` written by `train`.

Every `train` run (scratch, finetuned, pretrained, linear evaluation) writes
`RUNDIR/backbone.safetensors` next to `backbone.bpk`: the backbone (trunk + per-pixel projection)
with PyTorch parameter names, BN running statistics included, and its architecture in the
safetensors metadata (`backbone`, `width`, `dense`). This file rebuilds the same network in
PyTorch, module for module (trainer/src/model/{resnet9,resnet50,mod}.rs):

- ResNet9: stem 3x3 conv + BN + ReLU; block1 = ConvBlock (3x3 conv, 2x2 max-pool, BN,
  CELU alpha 0.075) + residual BasicBlock (two 3x3 conv + BN + CELU, identity shortcut);
  block2 = ConvBlock; block3 = ConvBlock + BasicBlock. Stride 8.
- ResNet50: torchvision layout (the trunk's names are torchvision's: conv1, bn1, layer1.0.conv1,
  layer1.0.downsample.0, ...) without the stem max-pool (stride 16); with `dense` layer4 keeps
  its input resolution (stride 1, every 3x3 conv of layer4 dilated by 2, padding 2): stride 8.
- projection: 1x1 conv (no bias) + BN + ReLU to 256*w channels (512*w when `dense`).
- `split` (CMC): two halves of width w/2, `trunk`/`projection` on the L channel (1 input
  channel, P/2 outputs) and `ab.trunk`/`ab.projection` on the a, b channels (2 inputs, P - P/2
  outputs); the output is the two projections concatenated.

Channel counts are `max(1, round(c * width))` with Rust's rounding (half away from zero).
BN: eps 1e-5, momentum 0.1. `running_var` holds burn's running estimate, which averages the
biased batch variance (PyTorch averages the unbiased one): identical in eval mode; continued
training in PyTorch blends in its own estimate.

Input: normalised CIE Lab images `[B, 3, H, W]` (see `srgb_to_input`). Output of `forward`: the
projected, pre-pool feature map `[B, P, H/s, W/s]`; `pooled` averages it over space.

Use (no package beyond torch is needed; safetensors files are read here directly):

    from torch_backbones import load_backbone, srgb_to_input
    net = load_backbone("runs/amdim/backbone.safetensors").eval()
    feats = net.pooled(srgb_to_input(uint8_hwc_images))    # [B, P]

    python tools/python/torch_backbones.py RUNDIR/backbone.safetensors     # describe it
    python tools/python/torch_backbones.py WEIGHTS --check BATCH [--tol 1e-4]

`--check BATCH` (used by trainer/tests/torch_mirror.rs) reads a safetensors file with `input`
`[B, 3, H, W]` and `features` (the trainer's output on it), runs the mirror in eval mode and
prints `max_abs_diff D over N values`; exit status 0 when D <= tol, 1 otherwise.
"""
import argparse
import json
import math
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

CELU_ALPHA = 0.075
EXPANSION = 4
LAB_MEAN = (38.44, 3.03, 4.77)
LAB_STD = (17.42, 9.41, 11.37)

_DTYPES = {
    "F32": torch.float32,
    "F64": torch.float64,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "U8": torch.uint8,
}


def read_safetensors(path):
    """(tensors by name, metadata dict) of a safetensors file, without the safetensors package."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: not a safetensors file (too short)")
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    body = memoryview(data)[8 + n :]
    tensors = {}
    for name, info in header.items():
        dtype = _DTYPES.get(info["dtype"])
        if dtype is None:
            raise ValueError(f"{path}: {name}: unsupported dtype {info['dtype']}")
        begin, end = info["data_offsets"]
        raw = bytearray(body[begin:end])
        t = torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)
        tensors[name] = t.reshape(info["shape"]).clone()
    return tensors, meta


def scaled(c, w):
    """Rust: ((c as f64 * w).round() as usize).max(1) (round half away from zero)."""
    return max(1, int(math.floor(c * w + 0.5)))


class Celu(nn.Module):
    """max(0, x) + a * (exp(min(x, 0) / a) - 1), written as the trainer writes it."""

    def __init__(self, alpha=CELU_ALPHA):
        super().__init__()
        self.alpha = alpha

    def forward(self, x):
        return x.clamp_min(0) + self.alpha * (torch.exp(x.clamp_max(0) / self.alpha) - 1)


def conv3x3(cin, cout):
    return nn.Conv2d(cin, cout, 3, padding=1, bias=False)


class ConvBnRelu(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = conv3x3(cin, cout)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class ConvBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = conv3x3(cin, cout)
        self.bn = nn.BatchNorm2d(cout)
        self.act = Celu()

    def forward(self, x):
        return self.act(self.bn(F.max_pool2d(self.conv(x), 2)))


class BasicBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = conv3x3(c, c)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = conv3x3(c, c)
        self.bn2 = nn.BatchNorm2d(c)
        self.act = Celu()

    def forward(self, x):
        y = self.act(self.bn1(self.conv1(x)))
        y = self.act(self.bn2(self.conv2(y)))
        return x + y


class Stage(nn.Module):
    def __init__(self, cin, cout, residual):
        super().__init__()
        self.down = ConvBlock(cin, cout)
        self.residual = BasicBlock(cout) if residual else None

    def forward(self, x):
        x = self.down(x)
        return self.residual(x) if self.residual is not None else x


class ResNet9(nn.Module):
    def __init__(self, width=1.0, in_channels=3):
        super().__init__()
        c64, c128, c256, c512 = (scaled(c, width) for c in (64, 128, 256, 512))
        self.stem = ConvBnRelu(in_channels, c64)
        self.block1 = Stage(c64, c128, True)
        self.block2 = Stage(c128, c256, False)
        self.block3 = Stage(c256, c512, True)
        self.out_channels = c512

    def forward(self, x):
        return self.block3(self.block2(self.block1(self.stem(x))))


class Bottleneck(nn.Module):
    def __init__(self, cin, planes, stride, dilation):
        super().__init__()
        cout = planes * EXPANSION
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(
            planes, planes, 3, stride=stride, padding=dilation, dilation=dilation, bias=False
        )
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x):
        identity = self.downsample(x) if self.downsample is not None else x
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return F.relu(y + identity)


class ResNet50(nn.Module):
    def __init__(self, width=1.0, dilated=False, layers=(3, 4, 6, 3), in_channels=3):
        super().__init__()
        c64 = scaled(64, width)
        self.conv1 = nn.Conv2d(in_channels, c64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(c64)
        cin = c64
        specs = [(64, 1, 1), (128, 2, 1), (256, 2, 1), (512, 1, 2) if dilated else (512, 2, 1)]
        for li, ((planes, stride, dilation), blocks) in enumerate(zip(specs, layers), start=1):
            planes = scaled(planes, width)
            mods = []
            for i in range(blocks):
                mods.append(Bottleneck(cin, planes, stride if i == 0 else 1, dilation))
                cin = planes * EXPANSION
            setattr(self, f"layer{li}", nn.Sequential(*mods))
        self.out_channels = cin

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class Projection(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


def make_trunk(kind, width, dense, in_channels):
    if kind == "resnet9":
        return ResNet9(width, in_channels=in_channels)
    if kind == "resnet50":
        return ResNet50(width, dilated=dense, in_channels=in_channels)
    raise ValueError(f"unknown backbone {kind!r}: expected resnet9 or resnet50")


class Half(nn.Module):
    """The ab half of a split backbone: a trunk on two channels and its projection."""

    def __init__(self, kind, width, dense, p):
        super().__init__()
        self.trunk = make_trunk(kind, width, dense, 2)
        self.projection = Projection(self.trunk.out_channels, p)

    def forward(self, x):
        return self.projection(self.trunk(x))


class Backbone(nn.Module):
    """Trunk + per-pixel projection, as `trainer::model::Backbone`."""

    def __init__(self, kind="resnet9", width=1.0, dense=False, split=False):
        super().__init__()
        p = scaled(512 if dense else 256, width)
        if split:
            self.trunk = make_trunk(kind, width / 2, dense, 1)
            self.projection = Projection(self.trunk.out_channels, p // 2)
            self.ab = Half(kind, width / 2, dense, p - p // 2)
        else:
            self.trunk = make_trunk(kind, width, dense, 3)
            self.projection = Projection(self.trunk.out_channels, p)
            self.ab = None
        self.kind, self.width, self.dense, self.split = kind, width, dense, split
        self.out_channels = p

    def forward(self, x):
        """[B, 3, H, W] normalised Lab -> [B, P, H/s, W/s] projected features."""
        if self.ab is None:
            return self.projection(self.trunk(x))
        return torch.cat([self.projection(self.trunk(x[:, :1])), self.ab(x[:, 1:])], 1)

    def pooled(self, x):
        """Global average pool of `forward`: [B, P]."""
        return self.forward(x).mean(dim=(2, 3))


def load_backbone(path, device="cpu"):
    """Build the network described by the file's metadata and load its weights (strict)."""
    tensors, meta = read_safetensors(path)
    for key in ("backbone", "width", "dense"):
        if key not in meta:
            raise ValueError(f"{path}: metadata lacks {key!r}; not written by the trainer?")
    net = Backbone(
        meta["backbone"],
        float(meta["width"]),
        meta["dense"] == "true",
        meta.get("split", "false") == "true",
    )
    missing, unexpected = net.load_state_dict(tensors, strict=False)
    if missing or unexpected:
        raise ValueError(f"{path}: missing {missing[:5]}..., unexpected {unexpected[:5]}...")
    return net.to(device)


def srgb_to_input(images):
    """uint8 sRGB images [B, H, W, 3] (tensor or array) -> normalised Lab [B, 3, H, W] float32,
    as trainer/src/color.rs (IEC 61966-2-1 transfer curve, D65)."""
    x = torch.as_tensor(images).to(torch.float64) / 255.0
    lin = torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)
    m = torch.tensor(
        [
            [0.4124564, 0.3575761, 0.1804375],
            [0.2126729, 0.7151522, 0.0721750],
            [0.0193339, 0.1191920, 0.9503041],
        ],
        dtype=torch.float64,
    )
    xyz = lin @ m.T / torch.tensor([0.95047, 1.0, 1.08883], dtype=torch.float64)
    d = 6.0 / 29.0
    f = torch.where(xyz > d**3, xyz.clamp_min(0) ** (1.0 / 3.0), xyz / (3 * d * d) + 4.0 / 29.0)
    lab = torch.stack(
        [116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1
    )
    lab = (lab - torch.tensor(LAB_MEAN, dtype=torch.float64)) / torch.tensor(
        LAB_STD, dtype=torch.float64
    )
    return lab.permute(0, 3, 1, 2).contiguous().to(torch.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("weights", help="backbone.safetensors written by train")
    ap.add_argument("--check", metavar="BATCH", help="safetensors with `input` and `features`")
    ap.add_argument("--tol", type=float, default=1e-4, help="largest allowed |difference|")
    args = ap.parse_args()
    torch.manual_seed(0)
    net = load_backbone(args.weights).eval()
    _, meta = read_safetensors(args.weights)
    params = sum(p.numel() for p in net.parameters())
    print(f"{meta.get('backbone')} width {meta.get('width')} dense {meta.get('dense')} "
          f"split {meta.get('split', 'false')}: {params} parameters, {net.out_channels} "
          "feature channels")
    if args.check is None:
        return 0
    batch, _ = read_safetensors(args.check)
    with torch.no_grad():
        got = net(batch["input"].float())
    want = batch["features"].float()
    if got.shape != want.shape:
        print(f"shape mismatch: torch {tuple(got.shape)} vs trainer {tuple(want.shape)}")
        return 1
    diff = (got - want).abs().max().item()
    print(f"max_abs_diff {diff:.3e} over {want.numel()} values (max |feature| "
          f"{want.abs().max().item():.3e}, tol {args.tol:g})")
    return 0 if diff <= args.tol else 1


if __name__ == "__main__":
    sys.exit(main())
