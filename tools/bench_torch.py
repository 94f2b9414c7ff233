#!/usr/bin/env python3
"""The PyTorch side of `alter bench engine`: the same workloads, printed as JSON lines
{"workload": ..., "ms": median}. Conv workloads are timed in both NCHW and channels-last memory
formats and the faster one is reported (PyTorch at its best). Run with an interpreter that has
torch (Debian: /usr/bin/python3 after apt-get install python3-torch)."""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def timed(fn, repeats, warmup=2):
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


class UNetLikeStack(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(32, c), nn.Conv2d(c, c, 3, padding=1)
        self.norm2, self.conv2 = nn.GroupNorm(32, c), nn.Conv2d(c, c, 3, padding=1)
        self.norm_attn = nn.LayerNorm(c)
        self.to_q, self.to_k, self.to_v = (nn.Linear(c, c, bias=False) for _ in range(3))
        self.to_out = nn.Linear(c, c)

    def forward(self, x, heads):
        n, c, h, w = x.shape
        y = self.conv1(F.silu(self.norm1(x)))
        y = self.conv2(F.silu(self.norm2(y)))
        r = (x + y).flatten(2).transpose(1, 2)
        t = self.norm_attn(r)
        split = lambda z: z.view(n, h * w, heads, c // heads).transpose(1, 2)
        q, k, v = split(self.to_q(t)), split(self.to_k(t)), split(self.to_v(t))
        a = torch.softmax(q @ k.transpose(-1, -2) / (c // heads) ** 0.5, dim=-1) @ v
        a = a.transpose(1, 2).reshape(n, h * w, c)
        return (r + self.to_out(a)).transpose(1, 2).reshape(n, c, h, w)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    repeats = 3 if args.quick else 10
    emit = lambda name, ms: print(json.dumps({"workload": name, "ms": ms}), flush=True)

    for n in (512, 1024):
        a, b = torch.randn(n, n), torch.randn(n, n)
        emit(f"sgemm_{n}", timed(lambda: torch.mm(a, b), repeats))

    best_fwd, best_bwd = float("inf"), float("inf")
    for fmt in (torch.contiguous_format, torch.channels_last):
        x = torch.randn(16, 64, 32, 32).to(memory_format=fmt).requires_grad_()
        w = (torch.randn(64, 64, 3, 3) * 0.05).to(memory_format=fmt).requires_grad_()
        b = torch.zeros(64, requires_grad=True)
        with torch.no_grad():
            best_fwd = min(best_fwd, timed(lambda: F.conv2d(x, w, b, padding=1), repeats))
        y = F.conv2d(x, w, b, padding=1)
        dy = torch.randn_like(y)
        best_bwd = min(best_bwd, timed(lambda: torch.autograd.grad(y, (x, w, b), dy, retain_graph=True), repeats))
    emit("conv2d_fwd", best_fwd)
    emit("conv2d_bwd", best_bwd)

    q, k, v = (torch.randn(8, 4, 256, 32, requires_grad=True) for _ in range(3))
    attend = lambda: torch.softmax(q @ k.transpose(-1, -2) / 32 ** 0.5, dim=-1) @ v
    with torch.no_grad():
        emit("attention_fwd", timed(attend, repeats))
    out = attend()
    dout = torch.randn_like(out)
    emit("attention_bwd", timed(lambda: torch.autograd.grad(out, (q, k, v), dout, retain_graph=True), repeats))

    best_step = float("inf")
    for fmt in (torch.contiguous_format, torch.channels_last):
        model = UNetLikeStack(64).to(memory_format=fmt)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        x = torch.randn(16, 64, 32, 32).to(memory_format=fmt)

        def step():
            opt.zero_grad()
            model(x, 4).square().mean().backward()
            opt.step()

        best_step = min(best_step, timed(step, 3 if args.quick else 6))
    emit("train_step", best_step)


if __name__ == "__main__":
    main()
