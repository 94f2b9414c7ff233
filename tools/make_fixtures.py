#!/usr/bin/env python3
"""Reference fixtures for alter's layers, computed with PyTorch.

How to regenerate
-----------------
    /usr/bin/python3 tools/make_fixtures.py [OUTPUT_DIR]

OUTPUT_DIR defaults to test/fixtures/torch/ (relative to the repository root). Needs PyTorch
(written against 1.13) and numpy; no safetensors package (the format is written here by hand).
Every fixture is seeded, float32, and well under 200 KB, so the output is committed.

File layout (safetensors, all tensors F32):
    in.<name>           inputs, in PyTorch's natural layout (NCHW for images)
    in.dout             fixed random upstream gradient with the output's shape
    param.<name>        module parameters under their PyTorch / diffusers names
    out.<name>          forward outputs
    grad.in.<name>      d L / d input      where L = sum(out * dout)
    grad.param.<name>   d L / d parameter
    __metadata__        {"config": "<JSON of the hyperparameters>", "generator": ..., "torch": ...}
The activations and AdamW fixtures use their own names; see make_activations / make_adamw.
"""

import json
import math
import os
import struct
import sys

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:
    sys.exit(
        "make_fixtures.py: PyTorch is not installed for this interpreter (%s); "
        "run it with an interpreter that has torch, e.g. /usr/bin/python3 tools/make_fixtures.py" % sys.executable
    )

MAX_BYTES = 200 * 1024


# ------------------------------------------------------------------------------------------------
# safetensors writer (F32 only): u64 LE header length, JSON header padded with spaces to a
# multiple of 8, then the tensors' little-endian bytes in sorted-name order.

def write_safetensors(path, tensors, metadata):
    names = sorted(tensors)
    header = {"__metadata__": metadata}
    blobs = []
    offset = 0
    for name in names:
        t = tensors[name].detach().to(torch.float32).contiguous().cpu()
        raw = t.numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":"), sort_keys=False).encode("utf-8")
    text += b" " * ((-len(text)) % 8)
    tmp = path + ".tmp-%d" % os.getpid()
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)
    os.replace(tmp, path)
    size = os.path.getsize(path)
    if size > MAX_BYTES:
        raise SystemExit("%s is %d bytes, over the %d-byte fixture limit; shrink it" % (path, size, MAX_BYTES))
    return size


def meta(config):
    return {"config": json.dumps(config, sort_keys=True), "generator": "tools/make_fixtures.py", "torch": torch.__version__}


def randomize_norm(module, gen_scale=0.2):
    """Norm layers start at weight=1, bias=0; make them random so the tests see them."""
    with torch.no_grad():
        module.weight.copy_(1.0 + gen_scale * torch.randn_like(module.weight))
        module.bias.copy_(gen_scale * torch.randn_like(module.bias))


def module_fixture(module, inputs, forward=None):
    """Runs module on inputs (dict name -> tensor), returns the fixture tensors.

    L = sum(out * dout) with a random dout; gradients for every input and parameter."""
    leaves = {k: v.clone().requires_grad_(True) for k, v in inputs.items()}
    module.zero_grad(set_to_none=True)
    out = forward(module, **leaves) if forward else module(*leaves.values())
    dout = torch.randn_like(out)
    (out * dout).sum().backward()
    tensors = {}
    for k, v in inputs.items():
        tensors["in." + k] = v
        tensors["grad.in." + k] = leaves[k].grad
    tensors["in.dout"] = dout
    tensors["out.out"] = out
    for name, p in module.named_parameters():
        tensors["param." + name] = p
        tensors["grad.param." + name] = p.grad
    return tensors


# ------------------------------------------------------------------------------------------------
# Modules written in plain torch, with diffusers' structure and parameter names.

class Attention(nn.Module):
    """diffusers Attention (default processor, no norms): to_q/to_k/to_v without bias, to_out.0 with bias."""

    def __init__(self, query_dim, cross_attention_dim=None, heads=2, dim_head=8):
        super().__init__()
        inner = heads * dim_head
        kv_dim = cross_attention_dim if cross_attention_dim is not None else query_dim
        self.heads = heads
        self.dim_head = dim_head
        self.to_q = nn.Linear(query_dim, inner, bias=False)
        self.to_k = nn.Linear(kv_dim, inner, bias=False)
        self.to_v = nn.Linear(kv_dim, inner, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(inner, query_dim, bias=True), nn.Dropout(0.0)])

    def forward(self, x, context=None):
        ctx = x if context is None else context
        b, lq, _ = x.shape
        lk = ctx.shape[1]
        h, dh = self.heads, self.dim_head
        q = self.to_q(x).view(b, lq, h, dh).transpose(1, 2)
        k = self.to_k(ctx).view(b, lk, h, dh).transpose(1, 2)
        v = self.to_v(ctx).view(b, lk, h, dh).transpose(1, 2)
        scores = q @ k.transpose(-1, -2) / math.sqrt(dh)
        o = scores.softmax(dim=-1) @ v
        o = o.transpose(1, 2).reshape(b, lq, h * dh)
        return self.to_out[1](self.to_out[0](o))


class GEGLU(nn.Module):
    def __init__(self, dim_in, dim_out):
        super().__init__()
        self.proj = nn.Linear(dim_in, dim_out * 2)

    def forward(self, x):
        hidden, gate = self.proj(x).chunk(2, dim=-1)
        return hidden * F.gelu(gate)


class FeedForward(nn.Module):
    """diffusers FeedForward(dim, mult=4, activation_fn="geglu"): net = [GEGLU, Dropout, Linear]."""

    def __init__(self, dim, mult=4):
        super().__init__()
        inner = dim * mult
        self.net = nn.ModuleList([GEGLU(dim, inner), nn.Dropout(0.0), nn.Linear(inner, dim)])

    def forward(self, x):
        for m in self.net:
            x = m(x)
        return x


class ResnetBlock2D(nn.Module):
    """diffusers ResnetBlock2D with time_embedding_norm="default", silu, output_scale_factor=1."""

    def __init__(self, in_channels, out_channels, temb_channels, groups, eps):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_channels, eps=eps, affine=True)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=1, padding=1)
        self.time_emb_proj = nn.Linear(temb_channels, out_channels)
        self.norm2 = nn.GroupNorm(groups, out_channels, eps=eps, affine=True)
        self.dropout = nn.Dropout(0.0)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=1, padding=1)
        self.conv_shortcut = nn.Conv2d(in_channels, out_channels, 1, stride=1, padding=0)
        self.output_scale_factor = 1.0

    def forward(self, x, temb):
        h = F.silu(self.norm1(x))
        h = self.conv1(h)
        h = h + self.time_emb_proj(F.silu(temb))[:, :, None, None]
        h = F.silu(self.norm2(h))
        h = self.dropout(h)
        h = self.conv2(h)
        return (self.conv_shortcut(x) + h) / self.output_scale_factor


# ------------------------------------------------------------------------------------------------
# Fixtures. Each seeds torch itself, so files do not depend on the order they are made in.

def make_conv(seed, cin, cout, k, stride, padding, shape):
    torch.manual_seed(seed)
    m = nn.Conv2d(cin, cout, k, stride=stride, padding=padding)
    tensors = module_fixture(m, {"x": torch.randn(*shape)})
    cfg = {"in_channels": cin, "out_channels": cout, "kernel_size": k, "stride": stride, "padding": padding,
           "dilation": 1, "groups": 1, "bias": True}
    return tensors, cfg


def make_group_norm():
    torch.manual_seed(104)
    m = nn.GroupNorm(4, 8, eps=1e-5, affine=True)
    randomize_norm(m)
    tensors = module_fixture(m, {"x": torch.randn(2, 8, 5, 6)})
    return tensors, {"num_groups": 4, "num_channels": 8, "eps": 1e-5, "affine": True}


def make_layer_norm():
    torch.manual_seed(105)
    m = nn.LayerNorm(12, eps=1e-5)
    randomize_norm(m)
    tensors = module_fixture(m, {"x": torch.randn(3, 7, 12)})
    return tensors, {"normalized_shape": [12], "eps": 1e-5, "elementwise_affine": True}


def make_attention_self():
    torch.manual_seed(106)
    m = Attention(16, heads=2, dim_head=8)
    tensors = module_fixture(m, {"x": torch.randn(2, 10, 16)}, forward=lambda mod, x: mod(x))
    return tensors, {"query_dim": 16, "heads": 2, "dim_head": 8, "cross_attention_dim": None,
                     "bias": False, "out_bias": True, "scale": 1 / math.sqrt(8)}


def make_attention_cross():
    torch.manual_seed(107)
    m = Attention(16, cross_attention_dim=12, heads=2, dim_head=8)
    tensors = module_fixture(m, {"x": torch.randn(2, 10, 16), "context": torch.randn(2, 4, 12)},
                             forward=lambda mod, x, context: mod(x, context))
    return tensors, {"query_dim": 16, "heads": 2, "dim_head": 8, "cross_attention_dim": 12,
                     "bias": False, "out_bias": True, "scale": 1 / math.sqrt(8)}


def make_geglu_ff():
    torch.manual_seed(108)
    m = FeedForward(16, mult=4)
    tensors = module_fixture(m, {"x": torch.randn(2, 6, 16)})
    return tensors, {"dim": 16, "mult": 4, "inner_dim": 64, "activation_fn": "geglu", "gelu": "erf",
                     "chunk_order": ["hidden", "gate"]}


def make_resnet_block():
    torch.manual_seed(109)
    m = ResnetBlock2D(8, 12, 16, groups=4, eps=1e-5)
    randomize_norm(m.norm1)
    randomize_norm(m.norm2)
    tensors = module_fixture(m, {"x": torch.randn(2, 8, 6, 6), "temb": torch.randn(2, 16)},
                             forward=lambda mod, x, temb: mod(x, temb))
    return tensors, {"in_channels": 8, "out_channels": 12, "temb_channels": 16, "groups": 4, "groups_out": 4,
                     "eps": 1e-5, "non_linearity": "silu", "time_embedding_norm": "default",
                     "output_scale_factor": 1.0, "dropout": 0.0, "use_conv_shortcut": False}


def make_adamw():
    """p [7,5] through 5 AdamW steps with fixed gradients g0..g4.

    in.p0, in.g0..in.g4; out.p1..out.p5 (p after each step); out.m, out.v (final exp_avg, exp_avg_sq)."""
    torch.manual_seed(110)
    cfg = {"lr": 1e-2, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.1, "amsgrad": False, "steps": 5}
    p0 = torch.randn(7, 5)
    grads = [torch.randn(7, 5) * (0.5 + i) for i in range(5)]
    p = nn.Parameter(p0.clone())
    opt = torch.optim.AdamW([p], lr=cfg["lr"], betas=tuple(cfg["betas"]), eps=cfg["eps"],
                            weight_decay=cfg["weight_decay"], amsgrad=False)
    tensors = {"in.p0": p0}
    for i, g in enumerate(grads):
        tensors["in.g%d" % i] = g
        p.grad = g.clone()
        opt.step()
        tensors["out.p%d" % (i + 1)] = p.detach().clone()
    state = opt.state[p]
    tensors["out.m"] = state["exp_avg"]
    tensors["out.v"] = state["exp_avg_sq"]
    return tensors, cfg


def make_activations():
    """Elementwise ops on [4,9] inputs: in.x_<op>, in.dout_<op>, out.<op>, grad.in.x_<op>."""
    torch.manual_seed(111)
    ops = {
        "gelu_erf": lambda x: F.gelu(x),
        "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
        "silu": F.silu,
        "sigmoid": torch.sigmoid,
        "softmax": lambda x: F.softmax(x, dim=-1),
        "log_softmax": lambda x: F.log_softmax(x, dim=-1),
    }
    tensors = {}
    for name, fn in ops.items():
        x = (torch.randn(4, 9) * 3).requires_grad_(True)
        out = fn(x)
        dout = torch.randn_like(out)
        (out * dout).sum().backward()
        tensors["in.x_" + name] = x
        tensors["in.dout_" + name] = dout
        tensors["out." + name] = out
        tensors["grad.in.x_" + name] = x.grad
    cfg = {"ops": list(ops), "softmax_dim": -1, "log_softmax_dim": -1, "gelu_erf": "x*0.5*(1+erf(x/sqrt(2)))",
           "gelu_tanh": "0.5*x*(1+tanh(sqrt(2/pi)*(x+0.044715*x^3)))"}
    return tensors, cfg


FIXTURES = {
    "conv2d_3x3": lambda: make_conv(101, 5, 6, 3, 1, 1, (2, 5, 9, 7)),
    "conv2d_s2": lambda: make_conv(102, 4, 6, 3, 2, 1, (2, 4, 8, 8)),
    "conv2d_1x1": lambda: make_conv(103, 6, 3, 1, 1, 0, (2, 6, 5, 5)),
    "group_norm": make_group_norm,
    "layer_norm": make_layer_norm,
    "attention_self": make_attention_self,
    "attention_cross": make_attention_cross,
    "geglu_ff": make_geglu_ff,
    "resnet_block": make_resnet_block,
    "adamw_5steps": make_adamw,
    "activations": make_activations,
}


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "test", "fixtures", "torch")
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(1)  # keep reductions in one fixed order
    for name, make in FIXTURES.items():
        tensors, cfg = make()
        path = os.path.join(out_dir, name + ".safetensors")
        size = write_safetensors(path, tensors, meta(cfg))
        print("%-26s %3d tensors %7d bytes" % (name + ".safetensors", len(tensors), size))


if __name__ == "__main__":
    main()
