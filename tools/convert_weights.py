"""Turns the official checkpoints of the standard feature networks into the
safetensors files `entprog metrics --weights DIR` reads (docs/metrics.md, "Standard
feature networks"). Needs internet for the first two and local files for the
others:

    python3 -m venv venv && venv/bin/pip install torch torchvision safetensors lpips
    venv/bin/python tools/convert_weights.py inception DIR   # pytorch-fid's pt_inception-2015-12-05 (downloaded)
    venv/bin/python tools/convert_weights.py lpips DIR       # lpips 0.1 AlexNet heads + torchvision's AlexNet (downloaded)
    venv/bin/python tools/convert_weights.py r3d50 DIR resnet-50-kinetics.pth   # DisCo's / kenshohara's checkpoint
    venv/bin/python tools/convert_weights.py i3d DIR i3d_pretrained_400.pt      # a piergiaj/pytorch-i3d state dict

Each file holds float32 tensors under the reference state dict's names;
integer buffers (num_batches_tracked) and aliases are dropped.
"""
import os
import sys

import torch
from safetensors.torch import save_file

FID_WEIGHTS_URL = "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth"


def save(sd, out, drop=lambda k: False):
    tensors = {k: v.detach().float().contiguous() for k, v in sd.items() if v.is_floating_point() and not drop(k)}
    save_file(tensors, out)
    print(f"wrote {out}: {len(tensors)} tensors")


def main(net, out_dir, src=None):
    os.makedirs(out_dir, exist_ok=True)
    if net == "inception":
        sd = torch.hub.load_state_dict_from_url(FID_WEIGHTS_URL, progress=True, map_location="cpu")
        save(sd, os.path.join(out_dir, "inception-fid.safetensors"))
    elif net == "lpips":
        import lpips

        sd = lpips.LPIPS(net="alex", version="0.1").state_dict()
        # lins.k aliases link; the ScalingLayer constants are built into entprog.
        save(sd, os.path.join(out_dir, "lpips-alex.safetensors"), drop=lambda k: k.startswith(("lins.", "scaling_layer.")))
    elif net == "r3d50":
        ckpt = torch.load(src, map_location="cpu")
        sd = {k.replace("module.", "", 1): v for k, v in ckpt.get("state_dict", ckpt).items()}
        save(sd, os.path.join(out_dir, "r3d50-kinetics.safetensors"))
    elif net == "i3d":
        sd = torch.load(src, map_location="cpu")
        if isinstance(sd, torch.jit.ScriptModule) or not isinstance(sd, dict):
            sys.exit(f"{src}: not a state dict with piergiaj/pytorch-i3d names (Conv3d_1a_7x7.conv3d.weight, ...); "
                     "StyleGAN-V's TorchScript I3D is not mapped by this script")
        sd = {k.replace("module.", "", 1): v for k, v in sd.items()}
        if "Conv3d_1a_7x7.conv3d.weight" not in sd:
            sys.exit(f"{src}: no tensor Conv3d_1a_7x7.conv3d.weight, expected piergiaj/pytorch-i3d names")
        save(sd, os.path.join(out_dir, "i3d-fvd.safetensors"))
    else:
        sys.exit(f"unknown network {net!r}, expected inception, lpips, r3d50 or i3d")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(*sys.argv[1:4])
