#!/usr/bin/env python3
"""PyTorch reference for the trainer's CPU training speed (docs/PERFORMANCE.md, trainer section).

Mirrors trainer/src/model/{resnet9.rs,mod.rs,heads.rs} with the classification head (ResNet9
trunk, 1x1 projection to 256w + BN + ReLU, global average pool, linear to 10 classes) and the
optimiser of trainer/src/training.rs (Adam, beta1 0.8, beta2 0.999, eps 1e-8, L2 weight decay
1e-4 added to the gradient). One step = zero_grad, forward, cross-entropy, backward, Adam step,
and reading the loss back (burn's `fit` does the same every step), on a fixed random batch.
Steps are timed after the warm-up steps; the same as `cargo bench -p trainer --bench
train_throughput -- STEPS WIDTH RES`.

Install (PyTorch is not a dependency of the project; ~6 GB with the CUDA libraries PyPI's Linux
wheel pulls in, or ~200 MB from the CPU wheel index):

    python3 -m venv /work/venv-torch
    /work/venv-torch/bin/pip install torch==2.15.0
    # or: /work/venv-torch/bin/pip install torch==2.15.0 --index-url https://download.pytorch.org/whl/cpu

Run:

    /work/venv-torch/bin/python tools/python/torch_resnet9_bench.py --res 32 --width 0.25
    /work/venv-torch/bin/python tools/python/torch_resnet9_bench.py --res 64 --width 1.0 --steps 5
    ... --phases        # also time forward / backward / optimiser step separately
    ... --profile       # torch.profiler table of the slowest ops (one extra step)
    ... --json FILE     # append the result as one JSON line

The last stdout line is `torch ... images/s (... s/step ...)`; with --json the same numbers
go to FILE.
"""
import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

CELU_ALPHA = 0.075


def scaled(c, w):
    """Rust: ((c as f64 * w).round() as usize).max(1) (round half away from zero)."""
    return max(1, int(math.floor(c * w + 0.5)))


def conv3x3(cin, cout):
    return nn.Conv2d(cin, cout, 3, padding=1, bias=False)


class ConvBnRelu(nn.Module):
    """The stem: 3x3 conv + BN + ReLU."""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv, self.bn = conv3x3(cin, cout), nn.BatchNorm2d(cout)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class ConvBlock(nn.Module):
    """conv 3x3, max-pool 2, BN, CELU(0.075)."""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv, self.bn = conv3x3(cin, cout), nn.BatchNorm2d(cout)

    def forward(self, x):
        return F.celu(self.bn(F.max_pool2d(self.conv(x), 2)), CELU_ALPHA)


class BasicBlock(nn.Module):
    """Two conv + BN + CELU layers with an identity shortcut."""

    def __init__(self, c):
        super().__init__()
        self.conv1, self.bn1 = conv3x3(c, c), nn.BatchNorm2d(c)
        self.conv2, self.bn2 = conv3x3(c, c), nn.BatchNorm2d(c)

    def forward(self, x):
        y = F.celu(self.bn1(self.conv1(x)), CELU_ALPHA)
        y = F.celu(self.bn2(self.conv2(y)), CELU_ALPHA)
        return x + y


class Model(nn.Module):
    """ResNet9 trunk + 1x1 projection (256w, BN, ReLU) + global average pool + linear."""

    def __init__(self, width=1.0, classes=10):
        super().__init__()
        c64, c128, c256, c512 = (scaled(c, width) for c in (64, 128, 256, 512))
        p = scaled(256, width)
        self.stem = ConvBnRelu(3, c64)
        self.block1 = nn.Sequential(ConvBlock(c64, c128), BasicBlock(c128))
        self.block2 = ConvBlock(c128, c256)
        self.block3 = nn.Sequential(ConvBlock(c256, c512), BasicBlock(c512))
        self.proj_conv = nn.Conv2d(c512, p, 1, bias=False)
        self.proj_bn = nn.BatchNorm2d(p)
        self.head = nn.Linear(p, classes)

    def forward(self, x):
        x = self.block3(self.block2(self.block1(self.stem(x))))
        x = F.relu(self.proj_bn(self.proj_conv(x)))
        return self.head(x.mean(dim=(2, 3)))


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--res", type=int, default=64, help="image side (divisible by 8)")
    ap.add_argument("--width", type=float, default=1.0, help="ResNet9 width multiplier")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=20, help="timed steps")
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps before")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    ap.add_argument("--compile", action="store_true", help="torch.compile the model")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--phases", action="store_true",
                    help="also time forward / backward / step separately")
    ap.add_argument("--profile", action="store_true",
                    help="print a torch.profiler table of one extra step")
    ap.add_argument("--json", metavar="FILE", help="append the result as a JSON line")
    ap.add_argument("--quiet", action="store_true", help="no per-step lines on stderr")
    a = ap.parse_args()
    if a.res <= 0 or a.res % 8:
        ap.error(f"--res {a.res}: expected a positive multiple of 8 (ResNet9 pools three times)")
    if a.width <= 0 or a.batch <= 0 or a.steps <= 0 or a.warmup < 0 or a.threads <= 0:
        ap.error("--width, --batch, --steps and --threads must be positive, --warmup >= 0")
    return a


def main():
    a = parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = Model(a.width)
    nparams = sum(p.numel() for p in model.parameters())
    # weight_decay in torch's Adam is the coupled L2 term, as burn's WeightDecayConfig.
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.8, 0.999), eps=1e-8,
                           weight_decay=1e-4)
    x = torch.randn(a.batch, 3, a.res, a.res, dtype=torch.float32)
    y = torch.randint(0, 10, (a.batch,))
    if a.channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    fwd = torch.compile(model) if a.compile else model
    model.train()
    phase = {"forward": 0.0, "backward": 0.0, "step": 0.0}

    def step(timed_phases):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(fwd(x), y)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        opt.step()
        value = loss.item()
        t3 = time.perf_counter()
        if timed_phases:
            phase["forward"] += t1 - t0
            phase["backward"] += t2 - t1
            phase["step"] += t3 - t2
        return value

    times = []
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        loss = step(a.phases and i >= a.warmup)
        dt = time.perf_counter() - t0
        times.append(dt)
        if not a.quiet:
            print(f"step {i} {dt:.3f} s loss {loss:.4f}", file=sys.stderr)
    meas = times[a.warmup:]
    total = sum(meas)
    ips = a.steps * a.batch / total
    mode = ("compile" if a.compile else "eager") + (" channels_last" if a.channels_last else "")
    result = {
        "framework": "torch", "version": torch.__version__, "threads": torch.get_num_threads(),
        "mode": mode, "res": a.res, "width": a.width, "batch": a.batch, "params": nparams,
        "steps": a.steps, "warmup": a.warmup, "images_per_s": ips,
        "s_per_step": total / a.steps, "min_s_per_step": min(meas),
        "load_avg": os.getloadavg()[0],
    }
    if a.phases:
        result["phase_s_per_step"] = {k: v / a.steps for k, v in phase.items()}
        print("phases (s/step): " + ", ".join(f"{k} {v / a.steps:.4f}" for k, v in phase.items()))
    if a.profile:
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            step(False)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))
    if a.json:
        with open(a.json, "a", encoding="utf-8") as f:
            f.write(json.dumps(result) + "\n")
    print(f"torch {torch.__version__} threads {result['threads']} {mode}: "
          f"ResNet9 width {a.width} {a.res}x{a.res} batch {a.batch} params {nparams}: "
          f"{ips:.1f} images/s ({a.steps} steps after {a.warmup} warm-up, "
          f"{total / a.steps:.3f} s/step, fastest {min(meas):.3f} s)")


if __name__ == "__main__":
    main()
