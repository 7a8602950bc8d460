#!/usr/bin/env python3
"""PyTorch reference for `entprog bench train-step`: the same denoiser and the
same training step in PyTorch (CPU, fp32, same thread count), so the speed
ratio of the candle harness against PyTorch is one join away (issue 4).

Run both sides on the same machine, same thread count:

    python3 bench/torch_reference.py --json > torch.jsonl
    cargo run --release -- bench train-step --json > rust.jsonl   # same thread count

and join them on `config` (ratio > 1: Rust is faster):

    import json; load = lambda f: {r["config"]: r for r in map(json.loads, open(f))}
    t, r = load("torch.jsonl"), load("rust.jsonl")
    for c in sorted(t.keys() & r.keys()): print(c, round(t[c]["median_step_s"] / r[c]["median_step_s"], 2))

On a shared, loaded machine set OMP_WAIT_POLICY=PASSIVE for the PyTorch run (the
workers inherit the environment; the header line prints it): PyTorch's
libgomp threads spin-wait between parallel regions by default, and with other
processes on the cores that cost default-image-full at 2 threads 2.1 s per
step instead of 0.41 s (load average ~5 on 2 cores). On an idle machine the
default is the fair setting.

Other flags: `--steps N` (timed steps, default 10, after 2 warm-up steps),
`--threads N` (default: all cores), `--configs a,b` (default: all 8),
`--attention math` (plain softmax(QK^T)V instead of SDPA), `--list-params
PRESET` (the parameter listing in the format of the Rust insta snapshot
`tests/snapshots/model__layout__params_PRESET.snap`, for a diff), `--selftest`
(shape, parameter-count, gradient-gating and loss-decrease checks on `tiny`).

What is mirrored (src/model/*.rs, src/diffusion/*.rs, src/train/trainer.rs,
adamw.rs, bench.rs of the Rust crate):

- Denoiser: reference encoder (`reference.embed` patch embedding + pre-norm
  transformer blocks `reference.NN`, final LayerNorm), pose guider (`pose`:
  conv3x3 -> SiLU -> per-patch linear -> SiLU, injected into every spatial
  block through its own bias-free zero-initialised `pose_proj`), patch and
  time embeddings (`embed`, `time`), L x (`spatial.NN`, `temporal.NN`), `final`.
  Spatial blocks are adaLN-zero DiT blocks (6-way modulation from SiLU(c),
  affine-free LayerNorm eps 1e-6, erf GELU MLP) whose attention over the frame's
  own tokens is added to a separate attention of the same queries over the
  reference tokens (keys/values through the block's own qkv projection,
  repeated per frame), scaled by the per-clip keep mask and the zero-initialised
  `ref_gate`. Temporal blocks: x + out(attn over frames (LN(x) + sin-cos frame
  position)) with zero-initialised `out`. Parameter names and shapes equal the
  Rust ones (`--list-params`).
- Step: timesteps uniform in 0..1000, Gaussian noise, condition dropout 0.1
  (cosine schedule, x_t = sqrt(ab) x0 + sqrt(1 - ab) eps), forward, eps-MSE,
  backward, global grad-norm clip at 1.0, AdamW (lr 1e-3, betas 0.9/0.999, eps
  1e-8, weight decay 0, optimizer state only for trainable parameters), one
  fixed seeded batch of N(0,1) values clamped to [-1, 1] as in `bench.rs`.
- Gates: a frozen unit's parameters have requires_grad=False (no weight
  gradient, no optimizer state: the frozen-linear op's behaviour); a unit runs
  under torch.no_grad() unless it trains or one of its inputs carries a
  gradient, so everything upstream of the first trainable unit records no
  autograd state, as in candle, where only variables build a graph.
- Attention: `F.scaled_dot_product_attention` (on CPU PyTorch's fused flash
  kernel, which like the Rust fused kernel does not keep the N x N weights);
  `--attention math` uses the plain composition instead.

Configs `{preset}-{mode}-{pattern}`: preset tiny|default; mode `image` (stage 2:
reference + pose, 16 clips x 1 frame) or `video` (stage 3: reference + pose,
2 clips x 8 frames); pattern `full` (every unit trains) or `last25`
(spatial.i and temporal.i for i >= L - ceil(L/4), plus `final`, train;
everything else is frozen).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import resource
import subprocess
import sys
import time

PRESETS = {
    # src/model/config.rs, ModelConfig::tiny() and ::default_preset().
    "tiny": dict(image_size=16, patch=4, dim=64, heads=2, depth=4, reference_depth=1,
                 mlp_ratio=4, pose_hidden=8, pose_dim=16, norm_eps=1e-6),
    "default": dict(image_size=32, patch=4, dim=64, heads=4, depth=12, reference_depth=2,
                    mlp_ratio=4, pose_hidden=16, pose_dim=32, norm_eps=1e-6),
}
MODES = {"image": (16, 1), "video": (2, 8)}  # (clips per batch, frames per clip)
PATTERNS = ("full", "last25")
ALL_CONFIGS = [f"{p}-{m}-{g}" for p in PRESETS for m in MODES for g in PATTERNS]
WARMUP = 2
# src/train/config.rs TrainConfig::default(), src/diffusion/config.rs DiffusionConfig::default().
LR, BETAS, ADAM_EPS, WEIGHT_DECAY, GRAD_CLIP = 1e-3, (0.9, 0.999), 1e-8, 0.0, 1.0
TIMESTEPS, COND_DROPOUT = 1000, 0.1

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:  # keep --help usable without torch
    torch = None
    nn = None


# ---------------------------------------------------------------- model ------
if torch is not None:

    def sinusoidal(positions, dim):
        """positions `[n]` -> `[n, dim]`: [cos | sin], max period 10000 (ops.rs)."""
        half = dim // 2
        freqs = torch.tensor([math.exp(-math.log(10000.0) * i / half) for i in range(half)],
                             dtype=torch.float32)
        args = positions.to(torch.float32)[:, None] * freqs[None]
        emb = torch.cat([args.cos(), args.sin()], dim=1)
        return F.pad(emb, (0, 1)) if dim % 2 else emb

    def pos_2d(grid, dim):
        """`[g*g, dim]`: half the width encodes the row, half the column (embed.rs)."""
        idx = torch.arange(grid * grid)
        return torch.cat([sinusoidal(idx // grid, dim // 2),
                          sinusoidal(idx % grid, dim - dim // 2)], dim=1)

    def patchify(x, p):
        """`[n, c, H, W]` -> `[n, (H/p)(W/p), c p p]`."""
        n, c, h, w = x.shape
        return (x.reshape(n, c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5)
                .reshape(n, (h // p) * (w // p), c * p * p))

    def unpatchify(x, p, c):
        """`[n, g*g, c p p]` -> `[n, c, g p, g p]`."""
        n, tokens, _ = x.shape
        g = math.isqrt(tokens)
        return x.reshape(n, g, g, c, p, p).permute(0, 3, 1, 4, 2, 5).reshape(n, c, g * p, g * p)

    def repeat_frames(x, t):
        """`[b, ...]` -> `[b t, ...]`, each clip's row repeated for its t frames (a copy, as in dit.rs)."""
        if t == 1:
            return x
        return x.unsqueeze(1).expand(x.shape[0], t, *x.shape[1:]).reshape(-1, *x.shape[1:])

    def layer_norm(x, eps):
        return F.layer_norm(x, x.shape[-1:], eps=eps)  # no affine (DiT elementwise_affine=False)

    def modulated_norm(x, shift, scale, eps):
        """LN(x) (1 + scale) + shift; x `[b, n, d]`, shift and scale `[b, d]`."""
        return layer_norm(x, eps) * (1 + scale[:, None]) + shift[:, None]

    ATTENTION = {"impl": "sdpa"}

    def attention(q, k, v):
        """Token-major q `[b, nq, h, dh]`, k and v `[b, nk, h, dh]` -> `[b, nq, h, dh]`."""
        q, k, v = (z.transpose(1, 2) for z in (q, k, v))  # head-major views
        if ATTENTION["impl"] == "sdpa":
            o = F.scaled_dot_product_attention(q, k, v)
        else:
            s = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))
            o = s.softmax(-1) @ v
        return o.transpose(1, 2)

    def linear(fan_in, fan_out, init="xavier", bias=True):
        """A Linear `weight [out, in]`, `bias [out]` (bias starts at zero), init as params.rs."""
        lin = nn.Linear(fan_in, fan_out, bias=bias)
        with torch.no_grad():
            if init == "xavier":
                nn.init.xavier_uniform_(lin.weight)
            elif init == "zeros":
                lin.weight.zero_()
            else:
                lin.weight.normal_(0.0, init)
            if bias:
                lin.bias.zero_()
        return lin

    class Attention(nn.Module):
        """Fused `qkv [3d, d]` and `out [d, d]` over `heads` heads (attention.rs)."""

        def __init__(self, dim, heads, zero_out):
            super().__init__()
            self.qkv = linear(dim, 3 * dim)
            self.out = linear(dim, dim, "zeros" if zero_out else "xavier")
            self.heads = heads

        def project(self, x):
            b, n, d = x.shape
            qkv = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads)  # [b, n, 3, h, dh]
            return qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]

        def project_out(self, o):
            b, n, h, dh = o.shape
            return self.out(o.reshape(b, n, h * dh))

        def forward(self, x):
            return self.project_out(attention(*self.project(x)))

    class Mlp(nn.Module):
        def __init__(self, dim, ratio):
            super().__init__()
            self.fc1 = linear(dim, dim * ratio)
            self.fc2 = linear(dim * ratio, dim)

        def forward(self, x):
            return self.fc2(F.gelu(self.fc1(x)))  # erf GELU

    class PatchEmbed(nn.Module):
        def __init__(self, size, patch, dim):
            super().__init__()
            self.proj = linear(3 * patch * patch, dim)
            self.register_buffer("pos", pos_2d(size // patch, dim), persistent=False)
            self.patch = patch

        def forward(self, x):  # [n, 3, H, W] -> [n, N, d]
            return self.proj(patchify(x, self.patch)) + self.pos

    class TimeEmbed(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.fc1 = linear(dim, dim, 0.02)
            self.fc2 = linear(dim, dim, 0.02)
            self.dim = dim

        def forward(self, timesteps):  # [b] -> [b, d]
            return self.fc2(F.silu(self.fc1(sinusoidal(timesteps, self.dim))))

    class PoseGuider(nn.Module):
        def __init__(self, patch, hidden, pose_dim):
            super().__init__()
            self.conv = nn.Conv2d(3, hidden, 3, padding=1)
            with torch.no_grad():
                nn.init.xavier_uniform_(self.conv.weight)
                self.conv.bias.zero_()
            self.proj = linear(hidden * patch * patch, pose_dim)
            self.patch = patch

        def forward(self, pose):  # [n, 3, H, W] -> [n, N, pose_dim]
            return F.silu(self.proj(patchify(F.silu(self.conv(pose)), self.patch)))

    class ReferenceBlock(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.attn = Attention(c["dim"], c["heads"], zero_out=False)
            self.mlp = Mlp(c["dim"], c["mlp_ratio"])
            self.eps = c["norm_eps"]

        def forward(self, x):
            x = x + self.attn(layer_norm(x, self.eps))
            return x + self.mlp(layer_norm(x, self.eps))

    class ReferenceEncoder(nn.Module):
        """Units `reference.embed` and `reference.NN`."""

        def __init__(self, c):
            super().__init__()
            self.embed = PatchEmbed(c["image_size"], c["patch"], c["dim"])
            self.depth = c["reference_depth"]
            for i in range(self.depth):
                self.add_module(f"{i:02d}", ReferenceBlock(c))

    class SpatialBlock(nn.Module):
        def __init__(self, c):
            super().__init__()
            d = c["dim"]
            self.adaln = linear(d, 6 * d, "zeros")
            self.attn = Attention(d, c["heads"], zero_out=False)
            self.mlp = Mlp(d, c["mlp_ratio"])
            self.pose_proj = linear(c["pose_dim"], d, "zeros", bias=False)
            self.ref_gate = nn.Parameter(torch.zeros(1))
            self.eps = c["norm_eps"]

        def forward(self, x, cond):  # x [b t, N, d]
            if cond["pose"] is not None:
                x = x + self.pose_proj(cond["pose"])
            m = self.adaln(F.silu(cond["c"])).chunk(6, dim=1)  # 6 x [b t, d]
            h = modulated_norm(x, m[0], m[1], self.eps)
            q, k, v = self.attn.project(h)
            o = attention(q, k, v)  # [b t, N, h, dh]
            if cond["reference"] is not None:
                tokens, keep = cond["reference"]
                _, kr, vr = self.attn.project(tokens)
                kr, vr = repeat_frames(kr, cond["t"]), repeat_frames(vr, cond["t"])
                o = o + attention(q, kr, vr) * (keep * self.ref_gate)  # [b t, 1, 1, 1] scale
            x = x + self.attn.project_out(o) * m[2][:, None]
            h = modulated_norm(x, m[3], m[4], self.eps)
            return x + self.mlp(h) * m[5][:, None]

    class TemporalBlock(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.attn = Attention(c["dim"], c["heads"], zero_out=True)
            self.eps, self.dim = c["norm_eps"], c["dim"]

        def forward(self, x, t):  # x [b t, N, d]
            bt, n, d = x.shape
            b = bt // t
            pos = sinusoidal(torch.arange(t), self.dim)  # [t, d]
            h = layer_norm(x, self.eps).reshape(b, t, n, d) + pos[:, None]
            h = h.transpose(1, 2).reshape(b * n, t, d)  # [b N, t, d]
            y = self.attn(h).reshape(b, n, t, d).transpose(1, 2).reshape(bt, n, d)
            return x + y

    class FinalLayer(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.adaln = linear(c["dim"], 2 * c["dim"], "zeros")
            self.proj = linear(c["dim"], 3 * c["patch"] ** 2, "zeros")
            self.eps = c["norm_eps"]

        def forward(self, x, c):
            shift, scale = self.adaln(F.silu(c)).chunk(2, dim=1)
            return self.proj(modulated_norm(x, shift, scale, self.eps))

    class Blocks(nn.Module):
        """A stack whose children are named `00`, `01`, ... (checkpoint names `spatial.07...`)."""

        def __init__(self, blocks):
            super().__init__()
            for i, b in enumerate(blocks):
                self.add_module(f"{i:02d}", b)

        def __getitem__(self, i):
            return getattr(self, f"{i:02d}")

    def unit_of(name):
        """The gated unit owning parameter `name` (`spatial.07`, `reference.embed`, `final`, ...)."""
        parts = name.split(".")
        return ".".join(parts[:2]) if parts[0] in ("spatial", "temporal", "reference") else parts[0]

    class Denoiser(nn.Module):
        """eps_theta(x_t, t, reference, poses) of dit.rs; every unit starts trainable."""

        def __init__(self, c):
            super().__init__()
            self.c = c
            self.reference = ReferenceEncoder(c)
            self.pose = PoseGuider(c["patch"], c["pose_hidden"], c["pose_dim"])
            self.embed = PatchEmbed(c["image_size"], c["patch"], c["dim"])
            self.time = TimeEmbed(c["dim"])
            self.spatial = Blocks([SpatialBlock(c) for _ in range(c["depth"])])
            self.temporal = Blocks([TemporalBlock(c) for _ in range(c["depth"])])
            setattr(self, "final", FinalLayer(c))
            self.units = sorted({unit_of(n) for n, _ in self.named_parameters()})
            self.trainable = set(self.units)

        def set_trainable(self, units):
            """Gates: `units` train, every other unit is frozen (requires_grad=False)."""
            self.trainable = set(units)
            for name, p in self.named_parameters():
                p.requires_grad_(unit_of(name) in self.trainable)

        def _run(self, unit, *inputs):
            """Grad mode for a unit: autograd records only if it trains or an input carries a gradient."""
            live = unit in self.trainable or any(
                z is not None and z.requires_grad for z in inputs)
            return torch.set_grad_enabled(live)

        def encode_reference(self, r):  # [b, 3, H, W] -> [b, N, d]
            ref = self.reference
            with self._run("reference.embed"):
                x = ref.embed(r)
            for i in range(ref.depth):
                with self._run(f"reference.{i:02d}", x):
                    x = getattr(ref, f"{i:02d}")(x)
            with self._run("", x):
                return layer_norm(x, self.c["norm_eps"])

        def forward(self, x_t, timesteps, reference, poses, keep):
            b, t, ch, h, w = x_t.shape
            keep_frames = repeat_frames(keep, t).reshape(b * t, 1, 1, 1)
            pose = None
            if poses is not None:
                with self._run("pose"):
                    pose = self.pose(poses.reshape(b * t, ch, h, w)) * keep_frames.squeeze(3)
            ref = None
            if reference is not None:
                ref = (self.encode_reference(reference), keep_frames)
            with self._run("time"):
                c = self.time(timesteps)  # [b, d]
            cond = dict(c=repeat_frames(c, t), pose=pose, reference=ref, t=t)
            with self._run("embed"):
                x = self.embed(x_t.reshape(b * t, ch, h, w))
            ref_tokens = ref[0] if ref is not None else None
            for i in range(self.c["depth"]):
                with self._run(f"spatial.{i:02d}", x, cond["c"], pose, ref_tokens):
                    x = self.spatial[i](x, cond)
                with self._run(f"temporal.{i:02d}", x):
                    x = self.temporal[i](x, t)
            with self._run("final", x, cond["c"]):
                out = getattr(self, "final")(x, cond["c"])
            return unpatchify(out, self.c["patch"], 3).reshape(b, t, ch, h, w)

    def param_listing(model):
        """Lines in the format of the Rust insta snapshot (tests/model.rs `listing`)."""
        shapes = sorted((n, list(p.shape)) for n, p in model.named_parameters())
        total = sum(math.prod(s) for _, s in shapes)
        head = f"{total} parameters in {len(shapes)} tensors"
        return [head] + [f"{n} [{', '.join(map(str, s))}]" for n, s in shapes]

    # ------------------------------------------------------------ step -------

    def cosine_alpha_bar(steps):
        """IDDPM cosine schedule in f64 (schedule.rs), alpha_bar_t for t in 0..T."""
        f = lambda t: math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
        acc, out = 1.0, []
        for i in range(steps):
            acc *= 1.0 - min(1.0 - f((i + 1) / steps) / f(i / steps), 0.999)
            out.append(acc)
        return torch.tensor(out, dtype=torch.float64)

    def trainable_units(model, pattern):
        if pattern == "full":
            return model.units
        depth = model.c["depth"]
        first = depth - math.ceil(depth / 4)
        return [f"{k}.{i:02d}" for i in range(first, depth) for k in ("spatial", "temporal")] + ["final"]

    class Step:
        """One training step of trainer.rs: draws, forward, eps-MSE, backward, clip, AdamW."""

        def __init__(self, preset, mode, pattern, seed=0):
            torch.manual_seed(seed)
            self.model = Denoiser(PRESETS[preset])
            self.model.set_trainable(trainable_units(self.model, pattern))
            self.params = [p for p in self.model.parameters() if p.requires_grad]
            # PyTorch's default AdamW on CPU: the per-tensor loop (foreach and fused are opt-in there).
            self.opt = torch.optim.AdamW(self.params, lr=LR, betas=BETAS, eps=ADAM_EPS,
                                         weight_decay=WEIGHT_DECAY)
            ab = cosine_alpha_bar(TIMESTEPS)
            self.sqrt_ab, self.sqrt_1mab = ab.sqrt().float(), (1 - ab).sqrt().float()
            b, t = MODES[mode]
            s = PRESETS[preset]["image_size"]
            draw = lambda *dims: torch.randn(*dims).clamp(-1, 1)  # noqa: E731  (bench.rs random_batch)
            self.reference = draw(b, 3, s, s)
            self.frames, self.poses = draw(b, t, 3, s, s), draw(b, t, 3, s, s)
            self.clips = b

        def __call__(self):
            x0 = self.frames
            b = x0.shape[0]
            timesteps = torch.randint(0, TIMESTEPS, (b,))
            noise = torch.randn_like(x0)
            keep = (torch.rand(b) >= COND_DROPOUT).float()
            per = (b, 1, 1, 1, 1)
            x_t = x0 * self.sqrt_ab[timesteps].view(per) + noise * self.sqrt_1mab[timesteps].view(per)
            pred = self.model(x_t, timesteps, self.reference, self.poses, keep)
            loss = F.mse_loss(pred, noise)
            value = loss.item()
            if not math.isfinite(value):
                raise FloatingPointError(f"loss is {value}")
            loss.backward()
            # Scales by max / (norm + 1e-6) when norm > max, as adamw.rs clip_scale.
            norm = torch.nn.utils.clip_grad_norm_(self.params, GRAD_CLIP)
            if not math.isfinite(norm.item()):
                raise FloatingPointError(f"gradient norm is {norm.item()}")
            self.opt.step()
            self.opt.zero_grad(set_to_none=True)  # the Rust step drops its gradients too
            return value


# --------------------------------------------------------------- worker ------

def _status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def worker(config, phase, steps, threads, attn):
    """Runs one config in this (fresh) process and prints one JSON object.

    phase `time`: the first warm-up step runs under FlopCounterMode (which
    counts matmul/conv FLOPs only: linear, conv and attention, forward and
    backward, nothing elementwise, norms or optimizer), then the median wall
    time of `steps` timed steps (the upper median, times[n // 2], as bench.rs).
    phase `mem`: started by the parent with glibc's mmap threshold fixed at
    64 KiB, so every tensor buffer is mmapped and unmapped on free and resident
    memory tracks live tensors instead of malloc's retained free heap; peak
    bytes = the kernel's resident high-water mark (VmHWM, reset through
    /proc/self/clear_refs, else ru_maxrss) after min(--steps, 3) steps minus
    VmRSS just before them (after the same 2 warm-ups, so AdamW state already
    exists). Kept out of the timed process because the fixed threshold costs
    page faults. Checked against the bytes autograd saves for backward: within
    a few percent.
    """
    torch.set_num_threads(threads)
    ATTENTION["impl"] = attn
    preset, mode, pattern = config.split("-")
    step = Step(preset, mode, pattern)
    from torch.utils.flop_counter import FlopCounterMode

    flops = None
    for i in range(WARMUP):
        if i == 0 and phase == "time":
            counter = FlopCounterMode(display=False)
            with counter:
                step()
            flops = counter.get_total_flops()
        else:
            step()
    if phase == "mem":
        rss_before = _status_kib("VmRSS") * 1024
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # reset the resident high-water mark
            reset = True
        except OSError:
            reset = False
        for _ in range(steps):
            step()
        peak = (_status_kib("VmHWM") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
        print(json.dumps({"peak_bytes": max(0, peak - rss_before)}))
        return
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    times.sort()
    median = times[len(times) // 2]
    print(json.dumps({
        "config": config,
        "median_step_s": median,
        "samples_per_s": step.clips / median,
        "gflops": flops / median / 1e9,
        "flops": flops,
        "trainable_params": sum(p.numel() for p in step.params),
    }))


def spawn(config, phase, steps, threads, attn):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    if phase == "mem":
        env.update(MALLOC_MMAP_THRESHOLD_="65536", MALLOC_TRIM_THRESHOLD_="65536",
                   GLIBC_TUNABLES="glibc.malloc.mmap_threshold=65536:glibc.malloc.trim_threshold=65536")
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", config, "--phase", phase,
           "--steps", str(steps), "--threads", str(threads), "--attention", attn]
    out = subprocess.run(cmd, env=env, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


# ------------------------------------------------------------- selftest ------

def selftest(attn):
    """Checks on `tiny`: shapes, gradient gating, and that 20 steps lower the loss."""
    ATTENTION["impl"] = attn
    for mode in MODES:
        s = Step("tiny", mode, "last25")
        x = s.frames
        b = x.shape[0]
        out = s.model(x, torch.zeros(b, dtype=torch.long), s.reference, s.poses, torch.ones(b))
        assert out.shape == x.shape, (out.shape, x.shape)
        # Upstream of spatial.03 nothing records autograd state.
        assert not s.model.encode_reference(s.reference).requires_grad
        s.opt.step = lambda: None  # look at the gradients before they are dropped
        s.opt.zero_grad = lambda set_to_none=True: None
        s()
        for name, p in s.model.named_parameters():
            trains = unit_of(name) in s.model.trainable
            assert (p.grad is not None) == trains, f"{name}: trains={trains}, grad={p.grad is not None}"
        print(f"ok  tiny-{mode}-last25: output {tuple(out.shape)}, "
              f"{len(s.params)} trainable tensors have gradients, frozen ones none", file=sys.stderr)
    s = Step("tiny", "image", "full")
    losses = [s() for _ in range(20)]
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    print("losses " + " ".join(f"{v:.4f}" for v in losses), file=sys.stderr)
    assert all(math.isfinite(v) for v in losses) and last < first, (first, last)
    print(f"ok  tiny-image-full: mean loss of the first 5 steps {first:.4f} -> last 5 {last:.4f}",
          file=sys.stderr)


# ----------------------------------------------------------------- main ------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true", help="one JSON object per config per line")
    ap.add_argument("--steps", type=int, default=10, help="timed steps per config (after 2 warm-ups)")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                    help="torch.set_num_threads (default: all cores)")
    ap.add_argument("--configs", default=",".join(ALL_CONFIGS), help="comma list of configs")
    ap.add_argument("--attention", choices=("sdpa", "math"), default="sdpa",
                    help="scaled_dot_product_attention (default) or the plain composition")
    ap.add_argument("--list-params", metavar="PRESET", help="print the parameter listing and exit")
    ap.add_argument("--selftest", action="store_true", help="correctness checks on tiny and exit")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--phase", choices=("time", "mem"), default="time", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if torch is None:
        sys.exit("torch is not installed: pip install torch")
    if a.worker:
        return worker(a.worker, a.phase, a.steps, a.threads, a.attention)
    torch.set_num_threads(a.threads)
    if a.list_params:
        print("\n".join(param_listing(Denoiser(PRESETS[a.list_params]))))
        return
    if a.selftest:
        return selftest(a.attention)
    configs = [c for c in a.configs.split(",") if c]
    bad = [c for c in configs if c not in ALL_CONFIGS]
    if bad:
        sys.exit(f"unknown config(s) {bad}; expected some of {ALL_CONFIGS}")
    print(f"# torch {torch.__version__}, threads {a.threads}, attention {a.attention}, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}, "
          f"{WARMUP} warm-up + {a.steps} timed steps per config, each config in fresh subprocesses",
          file=sys.stderr)
    if not a.json:
        print(f"{'config':<24}{'median s':>10}{'samples/s':>11}{'GFLOP/s':>9}{'peak MiB':>10}"
              f"{'GFLOP/step':>12}{'trainable':>11}")
    for c in configs:
        r = spawn(c, "time", a.steps, a.threads, a.attention)
        r["peak_bytes"] = spawn(c, "mem", min(a.steps, 3), a.threads, a.attention)["peak_bytes"]
        if a.json:
            keys = ("config", "median_step_s", "samples_per_s", "gflops", "peak_bytes")
            print(json.dumps({k: r[k] for k in keys}), flush=True)
        else:
            print(f"{c:<24}{r['median_step_s']:>10.4f}{r['samples_per_s']:>11.1f}{r['gflops']:>9.2f}"
                  f"{r['peak_bytes'] / 2**20:>10.1f}{r['flops'] / 1e9:>12.3f}{r['trainable_params']:>11}",
                  flush=True)


if __name__ == "__main__":
    main()
