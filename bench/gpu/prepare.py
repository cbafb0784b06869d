#!/usr/bin/python3
"""Prepares the GPU benchmark on the CPU machine (the GPU machine has no firnc).

    /usr/bin/python3 bench/gpu/prepare.py OUT_DIR [--only mlp,gpt]

For each bench model of bench/run.py that the CUDA issue names (MLP, CNN, frozen CNN,
ResNet, GPT) it writes OUT_DIR/<model>/: the data and PyTorch's initial parameters
(bench/run.py's prepare(): x.npy, y.npy, init.safetensors) and the model's CUDA training
binary (`firnc --target=cuda`, as `model`). bench/gpu/run.py runs them on the GPU
machine; tests/gpu/prepare.sh bundles them with the golden tests' binaries.
"""

import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import run as bench  # noqa: E402  (bench/run.py)

GPU_MODELS = ["mlp", "cnn", "cnn_frozen", "resnet", "gpt"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    names = args.only.split(",") if args.only else GPU_MODELS
    env = dict(os.environ)
    env.setdefault("FIRN_CACHE_DIR", os.path.join(bench.ROOT, "build", "kernel-cache"))
    for m in bench.MODELS:
        if m["name"] not in names:
            continue
        d = os.path.join(args.out, m["name"])
        os.makedirs(d, exist_ok=True)
        bench.prepare(m, d)
        subprocess.run([bench.FIRNC, os.path.join(bench.MODELS_DIR, m["file"]),
                        "--target=cuda", "-o", os.path.join(d, "model")],
                       check=True, env=env)
        print("prepared", d, flush=True)


if __name__ == "__main__":
    main()
