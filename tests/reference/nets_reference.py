"""Reference outputs of the standard feature networks (src/eval/nets/) for
the parity tests in tests/nets.rs.

Builds each reference PyTorch module, fills EVERY floating parameter and
buffer it reads with a formula that tests/nets.rs reproduces exactly, runs
it on a formula input and prints a few outputs, their sum and L2 norm.
It also writes tests/reference/nets/<net>.names: the sorted (name, shape)
list of the filled tensors, the names the Rust test writes to safetensors.

    python3 -m venv venv && venv/bin/pip install torch torchvision pytorch-fid==0.3.0 lpips==0.1.4 pillow
    venv/bin/python tests/reference/nets_reference.py [inception lpips r3d50 i3d resize]

The formula (integers, then exact float64 arithmetic, then float32), for the
k-th name of the sorted list and the i-th element in C order:

    u = ((i * 7919 + k * 104729 + 13) % 2003) / 1001 - 1          # in [-1, 1.001)
    running_var: 1 + 0.5 u;  running_mean: 0.1 u
    other 1-d "weight" (norm scale): 1 + 0.25 u;  1-d "bias": 0.1 u
    rank >= 2 (conv / linear): u * sqrt(6 / fan_in), fan_in = prod(shape[1:])

Inputs: x[b, c, (t,) y, x] = ((b * 97 + c * 31 + t * 53 + y * 17 + x * 7) % 256) / 255.
"""
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))


def formula(k, name, shape):
    n = int(np.prod(shape)) if len(shape) else 1
    i = np.arange(n, dtype=np.int64)
    u = ((i * 7919 + k * 104729 + 13) % 2003).astype(np.float64) / 1001.0 - 1.0
    leaf = name.rsplit(".", 1)[-1]
    if leaf == "running_var":
        v = 1.0 + 0.5 * u
    elif leaf == "running_mean":
        v = 0.1 * u
    elif len(shape) == 1 and leaf == "weight":
        v = 1.0 + 0.25 * u
    elif len(shape) == 1 and leaf == "bias":
        v = 0.1 * u
    else:
        fan_in = int(np.prod(shape[1:]))
        v = u * math.sqrt(6.0 / fan_in)
    return torch.from_numpy(v.astype(np.float32).reshape(shape))


def fill(module, net, skip=()):
    """Fills every float tensor of the state dict (but `skip`) and writes the names file."""
    sd = module.state_dict()
    names = sorted(k for k, v in sd.items() if v.is_floating_point() and k not in skip)
    with torch.no_grad():
        for k, name in enumerate(names):
            sd[name].copy_(formula(k, name, tuple(sd[name].shape)))
    with open(os.path.join(HERE, "nets", f"{net}.names"), "w") as f:
        for name in names:
            f.write(f"{name} {' '.join(str(d) for d in sd[name].shape) or '-'}\n")
    return names


def image_input(shape):
    idx = np.indices(shape, dtype=np.int64)
    if len(shape) == 4:
        b, c, y, x = idx
        t = 0
    else:
        b, c, t, y, x = idx
    v = ((b * 97 + c * 31 + t * 53 + y * 17 + x * 7) % 256).astype(np.float64) / 255.0
    return torch.from_numpy(v.astype(np.float32))


def report(net, out):
    out = out.detach().double().reshape(out.shape[0], -1)
    flat = out.reshape(-1)
    print(json.dumps({
        "net": net,
        "shape": list(out.shape),
        "first": [float(v) for v in out[:, :4].reshape(-1)],
        "sum": float(flat.sum()),
        "l2": float(flat.norm()),
    }))


def inception():
    from pytorch_fid import inception as pf

    net = pf._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    net.Mixed_5b = pf.FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = pf.FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = pf.FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = pf.FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = pf.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = pf.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = pf.FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = pf.FIDInceptionE_1(1280)
    net.Mixed_7c = pf.FIDInceptionE_2(2048)
    fill(net, "inception-fid")
    pf.fid_inception_v3 = lambda: net  # the same modules, without the download
    model = pf.InceptionV3([3]).eval()
    with torch.no_grad():
        report("inception-fid", model(image_input((2, 3, 40, 48)))[0])


def lpips_alex():
    import lpips

    model = lpips.LPIPS(net="alex", pretrained=False, pnet_rand=True, verbose=False).eval()
    # The ScalingLayer's shift and scale are constants of the package, not
    # weights; lins.k is the same module as link (registered twice), so only
    # the linK names are filled (the names of the package's weights files).
    sd = model.state_dict()
    skip = ("scaling_layer.shift", "scaling_layer.scale") + tuple(k for k in sd if k.startswith("lins."))
    fill(model, "lpips-alex", skip=skip)
    x0 = image_input((2, 3, 64, 80))
    x1 = torch.flip(x0, dims=[3]) * 0.5 + 0.25
    with torch.no_grad():
        report("lpips-alex", model(x0, x1, normalize=True))


def r3d50():
    sys.path.insert(0, HERE)
    from resnet3d_disco import resnet50

    model = resnet50(num_classes=400, shortcut_type="B", sample_size=32, sample_duration=4, last_fc=False).eval()
    fill(model, "r3d50-kinetics")
    # DisCo's input scale: pixels in [0, 255] less the Kinetics mean.
    x = image_input((1, 3, 4, 32, 32)) * 255.0 - torch.tensor([114.7748, 107.7354, 99.4750]).view(1, 3, 1, 1, 1)
    with torch.no_grad():
        report("r3d50-kinetics", model(x.float()))


def i3d():
    sys.path.insert(0, HERE)
    from i3d_disco import InceptionI3d

    model = InceptionI3d(400, in_channels=3).eval()
    # A 64 x 64 input ends in a 2 x 2 map where a 224 input ends in 7 x 7: the
    # average pool that covers the whole map is [1, 2, 2] here.
    model.avg_pool = nn.AvgPool3d(kernel_size=[1, 2, 2], stride=(1, 1, 1))
    fill(model, "i3d-fvd")
    x = image_input((1, 3, 8, 64, 64)) * 2.0 - 1.0
    with torch.no_grad():
        report("i3d-fvd", model(x))


def resize():
    """PIL's bicubic resize of a float ('F') channel, as DisCo's make_resizer("PIL", False, "bicubic")."""
    from PIL import Image

    img = image_input((1, 3, 21, 27))[0].numpy() * 255.0
    for (w, h) in [(112, 112), (11, 8)]:
        out = [np.asarray(Image.fromarray(img[c].astype(np.float32), mode="F").resize((w, h), resample=Image.BICUBIC)) for c in range(3)]
        out = torch.from_numpy(np.stack(out)[None].astype(np.float32))
        report(f"pil-bicubic-{w}x{h}", out)


if __name__ == "__main__":
    torch.set_num_threads(2)
    which = sys.argv[1:] or ["inception", "lpips", "r3d50", "i3d", "resize"]
    for name in which:
        {"inception": inception, "lpips": lpips_alex, "r3d50": r3d50, "i3d": i3d, "resize": resize}[name]()
