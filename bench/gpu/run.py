#!/usr/bin/env python3
"""firn's CUDA binaries against PyTorch on the same GPU (run on the GPU machine).

    python3 bench/gpu/run.py BUNDLE/bench [--only mlp,gpt] [--modes eager,...]

BUNDLE/bench/<model>/ comes from bench/gpu/prepare.py (run on the CPU machine, where
firnc is): the data, PyTorch's initial parameters and the model's CUDA binary. For each
model:
  - firn: the binary trains --steps S with --metrics; its step time is the median of
    the per-step `seconds` differences after the first 5 steps (every step ends with its
    loss copied to the host, which waits for the GPU: the time a user sees per step);
    its peak device memory is the most that nvidia-smi reports in use on the GPU while
    it runs (polled every 20 ms), less what was in use before it started;
  - PyTorch, one fresh process per configuration: eager and torch.compile of the loss
    (forward + cross entropy; autograd and the optimizer eager) in each --modes mode,
    float32 with TF32 off (torch.backends.{cuda.matmul,cudnn}.allow_tf32 = False), and
    eager once more with PyTorch's defaults; W warm-up steps (compilation happens
    there), then S steps, each timed with CUDA events around zero_grad, forward,
    backward and step; the median; torch.cuda.max_memory_allocated.
A table comes last: each configuration's median step in ms, firn / eager and firn /
the best compiled configuration, and the peak device memory of firn and eager PyTorch.
Nothing here is a test: numbers are checked by the golden tests (tests/gpu/run.sh).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import run as bench  # noqa: E402  (bench/run.py: the models and their PyTorch twins)

DEFAULT_MODES = "eager,max-autotune-no-cudagraphs,reduce-overhead"
STEPS = {"mlp": 100, "cnn": 100, "cnn_frozen": 100, "resnet": 50, "gpt": 50}


def gpu_memory_used_mib():
    try:
        r = subprocess.run(["nvidia-smi", "--query-gpu=memory.used",
                            "--format=csv,noheader,nounits"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        return float(r.stdout.split()[0])
    except (OSError, IndexError, ValueError):
        return float("nan")


def run_firn(m, d, steps, binary):
    metrics = os.path.join(d, "metrics.jsonl")
    cmd = [os.path.join(d, binary), "train", "--x", os.path.join(d, "x.npy"),
           "--y", os.path.join(d, "y.npy"), "--init", os.path.join(d, "init.safetensors"),
           "--batch-size", str(m["batch"]), "--steps", str(steps), "--metrics", metrics]
    before = gpu_memory_used_mib()
    peak = [before]
    done = threading.Event()

    def poll():
        while not done.is_set():
            peak[0] = max(peak[0], gpu_memory_used_mib())
            time.sleep(0.02)
    t = threading.Thread(target=poll)
    t.start()
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    done.set()
    t.join()
    if r.returncode != 0:
        raise RuntimeError("firn failed: %s\n%s" % (" ".join(cmd), r.stderr[-2000:]))
    seconds = []
    with open(metrics) as f:
        for line in f:
            rec = json.loads(line)
            if rec.get("kind") == "step":
                seconds.append(rec["seconds"])
    deltas = [b - a for a, b in zip(seconds[5:], seconds[6:])]
    return statistics.median(deltas), peak[0] - before


def torch_worker(args):
    import torch
    import torch.nn.functional as F

    m = next(mm for mm in bench.MODELS if mm["name"] == args.torch_worker)
    if args.tf32 == "off":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    # (--dry-run: the same on the CPU, timed with the wall clock, to check
    # this script on a machine without a GPU.)
    dev = torch.device("cpu" if args.dry_run else "cuda")
    model, forward = bench.torch_model(m)
    init = bench.read_safetensors(os.path.join(args.dir, "init.safetensors"))
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.from_numpy(init[name].copy()))
    model.to(dev)
    opt = bench.torch_optimizer(m, model)
    X = torch.from_numpy(bench.np.load(os.path.join(args.dir, "x.npy"))).to(dev)
    Y = torch.from_numpy(bench.np.load(os.path.join(args.dir, "y.npy"))).to(dev)
    B, nb = m["batch"], m["nbatches"]
    batches = [(X[i * B:(i + 1) * B], Y[i * B:(i + 1) * B]) for i in range(nb)]

    def loss_of(x, y):
        return F.cross_entropy(forward(x), y)
    if args.mode != "eager":
        loss_of = torch.compile(loss_of, mode=args.mode)
    micro = [0]

    def step():
        opt.zero_grad()
        for _ in range(m["accumulate"]):
            x, y = batches[micro[0] % nb]
            micro[0] += 1
            loss_of(x, y).backward()
        opt.step()

    t0 = time.perf_counter()
    for _ in range(args.warmup):
        step()
    if not args.dry_run:
        torch.cuda.synchronize()
    warm_s = time.perf_counter() - t0
    times = []
    for _ in range(args.steps):
        if args.dry_run:
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
            continue
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        step()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    peak = 0.0 if args.dry_run else torch.cuda.max_memory_allocated() / 2 ** 20
    print(json.dumps({"step_s": statistics.median(times), "warmup_s": warm_s,
                      "peak_mib": peak}))


def run_torch(m, d, mode, tf32, steps, dry_run):
    cmd = [sys.executable, os.path.abspath(__file__), "--torch-worker", m["name"], "--dir", d,
           "--mode", mode, "--tf32", tf32, "--steps", str(steps), "--warmup", "10"]
    if dry_run:
        cmd.append("--dry-run")
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        return {"error": r.stderr.strip().splitlines()[-1] if r.stderr.strip() else "failed"}
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bundle", nargs="?", default="")
    ap.add_argument("--only", default="")
    ap.add_argument("--modes", default=DEFAULT_MODES)
    ap.add_argument("--torch-worker", default="")
    ap.add_argument("--dir", default="")
    ap.add_argument("--mode", default="eager")
    ap.add_argument("--tf32", default="off")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--binary", default="model", help="the binary's name in each model's folder")
    ap.add_argument("--dry-run", action="store_true",
                    help="PyTorch on the CPU: checks the script where there is no GPU")
    args = ap.parse_args()
    if args.torch_worker:
        return torch_worker(args)
    import torch
    if not args.dry_run:
        print("GPU: %s; PyTorch %s, CUDA %s" % (torch.cuda.get_device_name(0),
                                                torch.__version__, torch.version.cuda),
              flush=True)
    configs = [(mode, "off") for mode in args.modes.split(",")] + [("eager", "default")]
    rows = []
    for m in bench.MODELS:
        d = os.path.join(args.bundle, m["name"])
        if not os.path.isdir(d) or (args.only and m["name"] not in args.only.split(",")):
            continue
        steps = STEPS.get(m["name"], 50)
        firn_s, firn_mib = run_firn(m, d, steps, args.binary)
        row = {"model": m["label"], "firn_ms": 1e3 * firn_s, "firn_mib": firn_mib}
        print("%s: firn %.3f ms, %.0f MiB" % (m["name"], row["firn_ms"], firn_mib), flush=True)
        for mode, tf32 in configs:
            r = run_torch(m, d, mode, tf32, steps, args.dry_run)
            row[(mode, tf32)] = r
            print("  PyTorch %s (TF32 %s): %s" % (mode, tf32, json.dumps(r)), flush=True)
        rows.append(row)

    def ms(r):
        return 1e3 * r["step_s"] if "step_s" in r else float("nan")
    print()
    header = " | ".join("%s%s ms" % (mode, "" if tf32 == "off" else " (defaults)")
                        for mode, tf32 in configs)
    print("| model | firn ms | %s | firn / eager | firn / best compiled | firn MiB | eager MiB |"
          % header)
    print("|---|---:|" + "---:|" * len(configs) + "---:|---:|---:|---:|")
    for row in rows:
        eager = ms(row[("eager", "off")])
        compiled = [ms(row[c]) for c in configs if c[0] != "eager"]
        compiled = [c for c in compiled if c == c]
        best = min(compiled) if compiled else float("nan")
        print("| %s | %.3f | %s | %.2f | %.2f | %.0f | %.0f |" % (
            row["model"], row["firn_ms"], " | ".join("%.3f" % ms(row[c]) for c in configs),
            row["firn_ms"] / eager, row["firn_ms"] / best, row["firn_mib"],
            row[("eager", "off")].get("peak_mib", float("nan"))))
    print("\nfp32; PyTorch configurations with TF32 off unless marked (defaults); medians of "
          "per-step times; see the script's docstring for the method")
    return 0


if __name__ == "__main__":
    sys.exit(main())
