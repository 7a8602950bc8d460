#!/usr/bin/env python3
"""entprog against PyTorch, train step by train step, over alternating rounds.

On a shared 2-core machine one round of `entprog bench train-step` followed by
`bench/torch_reference.py` scatters by up to 2x between rounds (other tenants,
CPU steal), so a single pair of medians can show either side ahead. This
script runs both sides on the same config back to back, one config at a time,
for `--rounds` rounds, alternating which side goes first (ABBA), and reports
per config the median over rounds of each side's median step, their ratio,
the range of the per-round ratios, and each side's peak bytes. Every raw line
is appended to `--out` (JSON lines with `side` and `round` added).

    python3 bench/compare.py --rounds 5 --configs default-image-full,default-video-full

Needs torch (for the PyTorch side) and a release build of entprog
(`cargo build --release`; `--entprog` points at the binary).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CONFIGS = "default-image-full,default-image-last25,default-video-full,default-video-last25"


def entprog_binary():
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(HERE, "..", "target"))
    return os.path.join(target, "release", "entprog")


def run_side(side, config, a):
    if side == "entprog":
        cmd = [a.entprog, "bench", "train-step", "--json", "--steps", str(a.steps), "--configs", config]
        env = dict(os.environ)
    else:
        cmd = [sys.executable, os.path.join(HERE, "torch_reference.py"), "--json", "--steps", str(a.steps),
               "--threads", str(a.threads), "--configs", config]
        env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    out = subprocess.run(cmd, env=env, check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines = [json.loads(l) for l in out.stdout.splitlines() if l.startswith("{")]
    (row,) = [r for r in lines if r["config"] == config]
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=10, help="timed steps per run (after 2 warm-ups)")
    ap.add_argument("--threads", type=int, default=2, help="PyTorch threads (entprog uses the machine's)")
    ap.add_argument("--configs", default=DEFAULT_CONFIGS)
    ap.add_argument("--entprog", default=entprog_binary(), help="path of the entprog release binary")
    ap.add_argument("--out", default=os.path.join(HERE, "compare.jsonl"), help="raw lines are appended here")
    a = ap.parse_args()
    if not os.path.exists(a.entprog):
        sys.exit(f"{a.entprog}: no entprog binary (cargo build --release, or pass --entprog)")
    configs = [c for c in a.configs.split(",") if c]
    rows = {c: {"entprog": [], "torch": []} for c in configs}
    with open(a.out, "a") as out:
        for r in range(a.rounds):
            with open("/proc/loadavg") as f:
                load = f.read().split()[0]
            print(f"# round {r + 1}/{a.rounds}, load average {load}", file=sys.stderr)
            for i, c in enumerate(configs):
                order = ("entprog", "torch") if (r + i) % 2 == 0 else ("torch", "entprog")
                for side in order:
                    row = run_side(side, c, a)
                    row.update(side=side, round=r + 1, load=float(load))
                    rows[c][side].append(row)
                    out.write(json.dumps(row) + "\n")
                    out.flush()
    print(f"{'config':<24}{'entprog s':>11}{'PyTorch s':>11}{'speed':>8}{'per round':>16}"
          f"{'entprog MB':>12}{'PyTorch MB':>12}")
    for c in configs:
        e, t = rows[c]["entprog"], rows[c]["torch"]
        me = statistics.median(x["median_step_s"] for x in e)
        mt = statistics.median(x["median_step_s"] for x in t)
        per = sorted(y["median_step_s"] / x["median_step_s"] for x, y in zip(e, t))
        pe = max(x["peak_bytes"] for x in e) / 1e6
        pt = statistics.median(x["peak_bytes"] for x in t) / 1e6
        print(f"{c:<24}{me:>11.4f}{mt:>11.4f}{mt / me:>7.2f}x{per[0]:>8.2f}-{per[-1]:.2f}x{pe:>12.1f}{pt:>12.1f}")


if __name__ == "__main__":
    main()
