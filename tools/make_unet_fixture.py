#!/usr/bin/env python3
"""Reference fixtures for alter's UNet2DConditionModel port, computed with plain PyTorch.

How to regenerate
-----------------
    /usr/bin/python3 tools/make_unet_fixture.py [OUTPUT_DIR]

OUTPUT_DIR defaults to test/fixtures/unet/ (relative to the repository root). Needs PyTorch
(written against 1.13) and numpy; neither diffusers nor the safetensors package is used: the
network below is an independent re-implementation of the Stable-Diffusion subset of diffusers'
UNet2DConditionModel whose module attribute names reproduce diffusers' state-dict keys, and the
safetensors format is written by hand.

Outputs (two configurations, each seeded, float32, well under 300 KB):
    config.json                 tiny UNet, linear transformer projections, block_out_channels [8, 16]
    unet_tiny.safetensors       its parameters, inputs, outputs
    config_conv.json            same but 1x1-conv projections, layers_per_block 2, block_out_channels [8, 8]
    unet_tiny_conv.safetensors  its parameters, inputs, outputs

Tensor names inside each .safetensors file (all F32, sorted by name):
    <diffusers parameter name>  every parameter, no prefix (e.g. down_blocks.0.attentions.0.proj_in.weight)
    input.sample                [2, in_channels, 8, 8] ~ randn
    input.timesteps             [2] = [17, 803] (integers, stored as float32)
    input.context               [2, 3, cross_attention_dim] ~ randn
    output.sample               [2, out_channels, 8, 8]
    output.features.<k>         block outputs in execution order: each down block's output (after its
                                downsampler, if any), the mid block output, each up block output
                                (after its upsampler, if any); NCHW
    __metadata__                {"config": <config JSON>, "generator": ..., "torch": ...}
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
        "make_unet_fixture.py: PyTorch is not installed for this interpreter (%s); "
        "run it with /usr/bin/python3 tools/make_unet_fixture.py" % sys.executable
    )

MAX_BYTES = 300 * 1024

CONFIG = {
    "_class_name": "UNet2DConditionModel",
    "sample_size": 8,
    "in_channels": 2,
    "out_channels": 2,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
    "block_out_channels": [8, 16],
    "layers_per_block": 1,
    "attention_head_dim": [2, 4],
    "cross_attention_dim": 6,
    "norm_num_groups": 4,
    "norm_eps": 1e-5,
    "use_linear_projection": True,
    "upcast_attention": False,
    "downsample_padding": 1,
    "mid_block_scale_factor": 1,
    "act_fn": "silu",
    "transformer_layers_per_block": 1,
}

CONFIG_CONV = dict(CONFIG, use_linear_projection=False, layers_per_block=2, block_out_channels=[8, 8])

# (config file, fixture file, config, seed)
FIXTURES = [
    ("config.json", "unet_tiny.safetensors", CONFIG, 1234),
    ("config_conv.json", "unet_tiny_conv.safetensors", CONFIG_CONV, 4321),
]

TIMESTEPS = [17, 803]
BATCH = 2
CONTEXT_LEN = 3


# ------------------------------------------------------------------------------------------------
# safetensors writer (F32 only)

def write_safetensors(path, tensors, metadata):
    """u64 little-endian header length, JSON header (keys sorted) padded with spaces to a multiple
    of 8, then each tensor's contiguous little-endian float32 bytes in sorted-name order."""
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
    text = json.dumps(header, separators=(",", ":"), sort_keys=True).encode("utf-8")
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


def read_safetensors(path):
    """Minimal reader, used only to check what was written."""
    import numpy as np
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    assert n % 8 == 0, "header not padded to a multiple of 8"
    header = json.loads(data[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", None)
    body = data[8 + n:]
    out = {}
    end = 0
    for name in sorted(header, key=lambda k: header[k]["data_offsets"][0]):
        info = header[name]
        a, b = info["data_offsets"]
        assert a == end, "tensors not contiguous at %s" % name
        end = b
        arr = np.frombuffer(body[a:b], dtype="<f4").reshape(info["shape"])
        out[name] = torch.from_numpy(arr.copy())
    assert end == len(body), "trailing bytes after the last tensor"
    return out, meta


# ------------------------------------------------------------------------------------------------
# Building blocks. Attribute names follow diffusers so state_dict() keys match its checkpoints.

def get_timestep_embedding(timesteps, dim, flip_sin_to_cos, downscale_freq_shift, max_period=10000):
    half = dim // 2
    exponent = -math.log(max_period) * torch.arange(0, half, dtype=torch.float32)
    exponent = exponent / (half - downscale_freq_shift)
    emb = timesteps[:, None].float() * torch.exp(exponent)[None, :]
    emb = torch.cat([torch.sin(emb), torch.cos(emb)], dim=-1)
    if flip_sin_to_cos:
        emb = torch.cat([emb[:, half:], emb[:, :half]], dim=-1)
    if dim % 2 == 1:
        emb = F.pad(emb, (0, 1, 0, 0))
    return emb


class Timesteps(nn.Module):
    def __init__(self, num_channels, flip_sin_to_cos, downscale_freq_shift):
        super().__init__()
        self.num_channels = num_channels
        self.flip_sin_to_cos = flip_sin_to_cos
        self.downscale_freq_shift = downscale_freq_shift

    def forward(self, t):
        return get_timestep_embedding(t, self.num_channels, self.flip_sin_to_cos, self.downscale_freq_shift)


class TimestepEmbedding(nn.Module):
    def __init__(self, in_channels, time_embed_dim):
        super().__init__()
        self.linear_1 = nn.Linear(in_channels, time_embed_dim)
        self.act = nn.SiLU()
        self.linear_2 = nn.Linear(time_embed_dim, time_embed_dim)

    def forward(self, x):
        return self.linear_2(self.act(self.linear_1(x)))


class ResnetBlock2D(nn.Module):
    def __init__(self, in_channels, out_channels, temb_channels, groups, eps, output_scale_factor=1.0):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_channels, eps=eps, affine=True)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=1, padding=1)
        self.time_emb_proj = nn.Linear(temb_channels, out_channels)
        self.norm2 = nn.GroupNorm(groups, out_channels, eps=eps, affine=True)
        self.dropout = nn.Dropout(0.0)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=1, padding=1)
        self.output_scale_factor = output_scale_factor
        if in_channels != out_channels:
            self.conv_shortcut = nn.Conv2d(in_channels, out_channels, 1, stride=1, padding=0)
        else:
            self.conv_shortcut = None

    def forward(self, x, temb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time_emb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        shortcut = x if self.conv_shortcut is None else self.conv_shortcut(x)
        return (shortcut + h) / self.output_scale_factor


class Attention(nn.Module):
    def __init__(self, query_dim, heads, dim_head, cross_attention_dim=None):
        super().__init__()
        inner = heads * dim_head
        kv_dim = query_dim if cross_attention_dim is None else cross_attention_dim
        self.heads = heads
        self.scale = dim_head ** -0.5
        self.to_q = nn.Linear(query_dim, inner, bias=False)
        self.to_k = nn.Linear(kv_dim, inner, bias=False)
        self.to_v = nn.Linear(kv_dim, inner, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(inner, query_dim), nn.Dropout(0.0)])

    def forward(self, x, context=None):
        ctx = x if context is None else context
        b, n, _ = x.shape
        m = ctx.shape[1]
        q = self.to_q(x)
        k = self.to_k(ctx)
        v = self.to_v(ctx)
        d = q.shape[-1] // self.heads
        q = q.reshape(b, n, self.heads, d).permute(0, 2, 1, 3)
        k = k.reshape(b, m, self.heads, d).permute(0, 2, 1, 3)
        v = v.reshape(b, m, self.heads, d).permute(0, 2, 1, 3)
        w = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) * self.scale, dim=-1)
        o = torch.matmul(w, v).permute(0, 2, 1, 3).reshape(b, n, self.heads * d)
        for layer in self.to_out:
            o = layer(o)
        return o


class GEGLU(nn.Module):
    def __init__(self, dim_in, dim_out):
        super().__init__()
        self.proj = nn.Linear(dim_in, 2 * dim_out)

    def forward(self, x):
        hidden, gate = self.proj(x).chunk(2, dim=-1)
        return hidden * F.gelu(gate)  # exact (erf) GELU


class FeedForward(nn.Module):
    def __init__(self, dim, mult=4):
        super().__init__()
        inner = dim * mult
        self.net = nn.ModuleList([GEGLU(dim, inner), nn.Dropout(0.0), nn.Linear(inner, dim)])

    def forward(self, x):
        for layer in self.net:
            x = layer(x)
        return x


class BasicTransformerBlock(nn.Module):
    def __init__(self, dim, heads, dim_head, cross_attention_dim):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-5, elementwise_affine=True)
        self.attn1 = Attention(dim, heads, dim_head)
        self.norm2 = nn.LayerNorm(dim, eps=1e-5, elementwise_affine=True)
        self.attn2 = Attention(dim, heads, dim_head, cross_attention_dim=cross_attention_dim)
        self.norm3 = nn.LayerNorm(dim, eps=1e-5, elementwise_affine=True)
        self.ff = FeedForward(dim)

    def forward(self, x, context):
        x = self.attn1(self.norm1(x)) + x
        x = self.attn2(self.norm2(x), context) + x
        x = self.ff(self.norm3(x)) + x
        return x


class Transformer2DModel(nn.Module):
    def __init__(self, heads, dim_head, in_channels, num_layers, cross_attention_dim, groups, use_linear_projection):
        super().__init__()
        inner = heads * dim_head
        self.use_linear_projection = use_linear_projection
        self.norm = nn.GroupNorm(groups, in_channels, eps=1e-6, affine=True)
        if use_linear_projection:
            self.proj_in = nn.Linear(in_channels, inner)
        else:
            self.proj_in = nn.Conv2d(in_channels, inner, 1, stride=1, padding=0)
        self.transformer_blocks = nn.ModuleList(
            [BasicTransformerBlock(inner, heads, dim_head, cross_attention_dim) for _ in range(num_layers)]
        )
        if use_linear_projection:
            self.proj_out = nn.Linear(inner, in_channels)
        else:
            self.proj_out = nn.Conv2d(inner, in_channels, 1, stride=1, padding=0)

    def forward(self, x, context):
        b, c, hgt, wid = x.shape
        residual = x
        h = self.norm(x)
        if self.use_linear_projection:
            h = h.permute(0, 2, 3, 1).reshape(b, hgt * wid, c)
            h = self.proj_in(h)
        else:
            h = self.proj_in(h)
            inner = h.shape[1]
            h = h.permute(0, 2, 3, 1).reshape(b, hgt * wid, inner)
        for block in self.transformer_blocks:
            h = block(h, context)
        if self.use_linear_projection:
            h = self.proj_out(h)
            h = h.reshape(b, hgt, wid, c).permute(0, 3, 1, 2).contiguous()
        else:
            inner = h.shape[-1]
            h = h.reshape(b, hgt, wid, inner).permute(0, 3, 1, 2).contiguous()
            h = self.proj_out(h)
        return h + residual


class Downsample2D(nn.Module):
    def __init__(self, channels, padding):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=padding)

    def forward(self, x):
        return self.conv(x)


class Upsample2D(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=1, padding=1)

    def forward(self, x, size=None):
        if size is None:
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        else:
            x = F.interpolate(x, size=size, mode="nearest")
        return self.conv(x)


class DownBlock(nn.Module):
    """CrossAttnDownBlock2D (with_attention) or DownBlock2D."""

    def __init__(self, in_ch, out_ch, temb_ch, num_layers, add_downsample, cfg, with_attention, heads):
        super().__init__()
        groups, eps = cfg["norm_num_groups"], cfg["norm_eps"]
        self.resnets = nn.ModuleList(
            [ResnetBlock2D(in_ch if i == 0 else out_ch, out_ch, temb_ch, groups, eps) for i in range(num_layers)]
        )
        if with_attention:
            self.attentions = nn.ModuleList([
                Transformer2DModel(heads, out_ch // heads, out_ch, cfg["transformer_layers_per_block"],
                                   cfg["cross_attention_dim"], groups, cfg["use_linear_projection"])
                for _ in range(num_layers)
            ])
        else:
            self.attentions = None
        if add_downsample:
            self.downsamplers = nn.ModuleList([Downsample2D(out_ch, cfg["downsample_padding"])])
        else:
            self.downsamplers = None

    def forward(self, h, temb, context):
        skips = []
        for i, resnet in enumerate(self.resnets):
            h = resnet(h, temb)
            if self.attentions is not None:
                h = self.attentions[i](h, context)
            skips.append(h)
        if self.downsamplers is not None:
            for ds in self.downsamplers:
                h = ds(h)
            skips.append(h)
        return h, skips


class UpBlock(nn.Module):
    """CrossAttnUpBlock2D (with_attention) or UpBlock2D."""

    def __init__(self, in_ch, out_ch, prev_out_ch, temb_ch, num_layers, add_upsample, cfg, with_attention, heads):
        super().__init__()
        groups, eps = cfg["norm_num_groups"], cfg["norm_eps"]
        resnets = []
        for i in range(num_layers):
            res_skip = in_ch if i == num_layers - 1 else out_ch
            resnet_in = prev_out_ch if i == 0 else out_ch
            resnets.append(ResnetBlock2D(resnet_in + res_skip, out_ch, temb_ch, groups, eps))
        self.resnets = nn.ModuleList(resnets)
        if with_attention:
            self.attentions = nn.ModuleList([
                Transformer2DModel(heads, out_ch // heads, out_ch, cfg["transformer_layers_per_block"],
                                   cfg["cross_attention_dim"], groups, cfg["use_linear_projection"])
                for _ in range(num_layers)
            ])
        else:
            self.attentions = None
        if add_upsample:
            self.upsamplers = nn.ModuleList([Upsample2D(out_ch)])
        else:
            self.upsamplers = None

    def forward(self, h, skips, temb, context, upsample_size=None):
        # skips: this block's share of the encoder features, in the order they were produced
        for i, resnet in enumerate(self.resnets):
            skip = skips[-1]
            skips = skips[:-1]
            h = torch.cat([h, skip], dim=1)
            h = resnet(h, temb)
            if self.attentions is not None:
                h = self.attentions[i](h, context)
        if self.upsamplers is not None:
            for us in self.upsamplers:
                h = us(h, upsample_size)
        return h


class UNetMidBlock2DCrossAttn(nn.Module):
    def __init__(self, channels, temb_ch, cfg, heads):
        super().__init__()
        groups, eps = cfg["norm_num_groups"], cfg["norm_eps"]
        scale = float(cfg["mid_block_scale_factor"])
        self.resnets = nn.ModuleList([
            ResnetBlock2D(channels, channels, temb_ch, groups, eps, output_scale_factor=scale),
            ResnetBlock2D(channels, channels, temb_ch, groups, eps, output_scale_factor=scale),
        ])
        self.attentions = nn.ModuleList([
            Transformer2DModel(heads, channels // heads, channels, cfg["transformer_layers_per_block"],
                               cfg["cross_attention_dim"], groups, cfg["use_linear_projection"])
        ])

    def forward(self, h, temb, context):
        h = self.resnets[0](h, temb)
        for attn, resnet in zip(self.attentions, self.resnets[1:]):
            h = attn(h, context)
            h = resnet(h, temb)
        return h


class UNet2DConditionModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        assert cfg["act_fn"] == "silu"
        assert not cfg["upcast_attention"]  # float32 throughout: upcasting would change nothing anyway
        boc = list(cfg["block_out_channels"])
        n = len(boc)
        heads = cfg["attention_head_dim"]  # SD quirk: this key holds the number of heads
        if isinstance(heads, int):
            heads = [heads] * n
        lpb = cfg["layers_per_block"]
        temb_dim = boc[0] * 4

        self.conv_in = nn.Conv2d(cfg["in_channels"], boc[0], 3, padding=1)
        self.time_proj = Timesteps(boc[0], cfg["flip_sin_to_cos"], cfg["freq_shift"])
        self.time_embedding = TimestepEmbedding(boc[0], temb_dim)

        self.down_blocks = nn.ModuleList()
        out_ch = boc[0]
        for i, kind in enumerate(cfg["down_block_types"]):
            in_ch, out_ch = out_ch, boc[i]
            assert kind in ("CrossAttnDownBlock2D", "DownBlock2D"), kind
            self.down_blocks.append(DownBlock(in_ch, out_ch, temb_dim, lpb, i != n - 1, cfg,
                                              kind == "CrossAttnDownBlock2D", heads[i]))

        self.mid_block = UNetMidBlock2DCrossAttn(boc[-1], temb_dim, cfg, heads[-1])

        self.up_blocks = nn.ModuleList()
        rev = list(reversed(boc))
        rev_heads = list(reversed(heads))
        out_ch = rev[0]
        for i, kind in enumerate(cfg["up_block_types"]):
            prev_out = out_ch
            out_ch = rev[i]
            in_ch = rev[min(i + 1, n - 1)]
            assert kind in ("CrossAttnUpBlock2D", "UpBlock2D"), kind
            self.up_blocks.append(UpBlock(in_ch, out_ch, prev_out, temb_dim, lpb + 1, i != n - 1, cfg,
                                          kind == "CrossAttnUpBlock2D", rev_heads[i]))

        self.conv_norm_out = nn.GroupNorm(cfg["norm_num_groups"], boc[0], eps=cfg["norm_eps"])
        self.conv_act = nn.SiLU()
        self.conv_out = nn.Conv2d(boc[0], cfg["out_channels"], 3, padding=1)

    def forward(self, sample, timesteps, context, return_features=False):
        features = []
        temb = self.time_embedding(self.time_proj(timesteps).to(sample.dtype))
        h = self.conv_in(sample)
        skips = [h]
        for block in self.down_blocks:
            h, block_skips = block(h, temb, context)
            skips.extend(block_skips)
            features.append(h)
        h = self.mid_block(h, temb, context)
        features.append(h)
        for i, block in enumerate(self.up_blocks):
            k = len(block.resnets)
            block_skips = skips[-k:]
            skips = skips[:-k]
            # sample sizes here are multiples of 2**(n-1), so diffusers upsamples by a plain factor 2
            h = block(h, block_skips, temb, context)
            features.append(h)
        assert not skips
        h = self.conv_out(self.conv_act(self.conv_norm_out(h)))
        return (h, features) if return_features else h


# ------------------------------------------------------------------------------------------------
# Initialisation, parameter-count check, fixture assembly

def randomize(model):
    """Every parameter random and non-trivial: weights ~ N(0, 1/fan_in) (keeps activations O(1)
    through the deep stack), biases ~ N(0, 0.1^2), norm scales 1 + 0.1 N(0,1), norm shifts 0.1 N(0,1)."""
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, (nn.GroupNorm, nn.LayerNorm)):
                mod.weight.copy_(1.0 + 0.1 * torch.randn_like(mod.weight))
                mod.bias.copy_(0.1 * torch.randn_like(mod.bias))
            elif isinstance(mod, (nn.Linear, nn.Conv2d)):
                fan_in = mod.weight[0].numel()
                mod.weight.copy_(torch.randn_like(mod.weight) / math.sqrt(fan_in))
                if mod.bias is not None:
                    mod.bias.copy_(0.1 * torch.randn_like(mod.bias))


def expected_param_count(cfg):
    """Parameter count worked out directly from the config (independent of the module code)."""
    boc = cfg["block_out_channels"]
    n = len(boc)
    lpb = cfg["layers_per_block"]
    G = cfg["norm_num_groups"]  # noqa: F841 (groups do not change counts)
    X = cfg["cross_attention_dim"]
    T = 4 * boc[0]
    lin = lambda i, o, bias=True: i * o + (o if bias else 0)  # noqa: E731
    conv = lambda i, o, k: i * o * k * k + o  # noqa: E731
    norm = lambda c: 2 * c  # noqa: E731

    def resnet(i, o):
        return norm(i) + conv(i, o, 3) + lin(T, o) + norm(o) + conv(o, o, 3) + (conv(i, o, 1) if i != o else 0)

    def transformer(c):
        proj = lin(c, c) if cfg["use_linear_projection"] else conv(c, c, 1)
        blk = 3 * norm(c) + (3 * lin(c, c, False) + lin(c, c)) + (lin(c, c, False) + 2 * lin(X, c, False) + lin(c, c)) \
            + lin(c, 8 * c) + lin(4 * c, c)
        return norm(c) + 2 * proj + cfg["transformer_layers_per_block"] * blk

    total = conv(cfg["in_channels"], boc[0], 3) + lin(boc[0], T) + lin(T, T)
    out = boc[0]
    for i, kind in enumerate(cfg["down_block_types"]):
        inp, out = out, boc[i]
        for j in range(lpb):
            total += resnet(inp if j == 0 else out, out)
            if kind.startswith("CrossAttn"):
                total += transformer(out)
        if i != n - 1:
            total += conv(out, out, 3)
    total += 2 * resnet(boc[-1], boc[-1]) + transformer(boc[-1])
    rev = boc[::-1]
    out = rev[0]
    for i, kind in enumerate(cfg["up_block_types"]):
        prev, out, inp = out, rev[i], rev[min(i + 1, n - 1)]
        for j in range(lpb + 1):
            skip = inp if j == lpb else out
            total += resnet((prev if j == 0 else out) + skip, out)
            if kind.startswith("CrossAttn"):
                total += transformer(out)
        if i != n - 1:
            total += conv(out, out, 3)
    total += norm(boc[0]) + conv(boc[0], cfg["out_channels"], 3)
    return total


def build(cfg, seed):
    torch.manual_seed(seed)
    model = UNet2DConditionModel(cfg)
    randomize(model)
    model.eval()
    sample = torch.randn(BATCH, cfg["in_channels"], cfg["sample_size"], cfg["sample_size"])
    timesteps = torch.tensor(TIMESTEPS, dtype=torch.int64)
    context = torch.randn(BATCH, CONTEXT_LEN, cfg["cross_attention_dim"])
    with torch.no_grad():
        out, feats = model(sample, timesteps, context, return_features=True)
    tensors = {k: v.detach().clone() for k, v in model.state_dict().items()}
    tensors["input.sample"] = sample
    tensors["input.timesteps"] = timesteps.to(torch.float32)
    tensors["input.context"] = context
    tensors["output.sample"] = out
    for k, f in enumerate(feats):
        tensors["output.features.%d" % k] = f
    return model, tensors


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "test", "fixtures", "unet")
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(1)  # fixed reduction order
    for cfg_name, st_name, cfg, seed in FIXTURES:
        model, tensors = build(cfg, seed)
        _, again = build(cfg, seed)
        for k in tensors:
            if not torch.equal(tensors[k], again[k]):
                raise SystemExit("non-deterministic: %s differs between two runs" % k)

        params = dict(model.named_parameters())
        n_params = sum(p.numel() for p in params.values())
        want = expected_param_count(cfg)
        if n_params != want:
            raise SystemExit("%s: %d parameters, expected %d from the config" % (st_name, n_params, want))
        sd = model.state_dict()
        assert set(sd) == set(params), "state dict has non-parameter entries"
        for name, t in tensors.items():
            if not torch.isfinite(t).all():
                raise SystemExit("%s: non-finite values in %s" % (st_name, name))

        with open(os.path.join(out_dir, cfg_name), "w") as f:
            json.dump(cfg, f, indent=2)
            f.write("\n")
        meta = {"config": json.dumps(cfg, sort_keys=True), "generator": "tools/make_unet_fixture.py",
                "torch": torch.__version__, "seed": str(seed)}
        path = os.path.join(out_dir, st_name)
        size = write_safetensors(path, tensors, meta)

        back, _ = read_safetensors(path)
        assert set(back) == set(tensors)
        for k in tensors:
            assert torch.equal(back[k], tensors[k].float()), k

        print("== %s (%s, seed %d): %d bytes, %d tensors, %d parameters in %d state-dict keys"
              % (st_name, cfg_name, seed, size, len(tensors), n_params, len(sd)))
        for k, v in sd.items():
            print("   %-70s %s" % (k, list(v.shape)))
        for k in sorted(t for t in tensors if t.startswith(("input.", "output."))):
            t = tensors[k]
            print("   %-28s %-16s mean %+.5f std %.5f" % (k, list(t.shape), t.mean().item(), t.std().item()))
        print("   deterministic over two runs: yes")


if __name__ == "__main__":
    main()
