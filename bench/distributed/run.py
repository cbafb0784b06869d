#!/usr/bin/python3
"""Data-parallel training on localhost: firn under mpirun against PyTorch DDP (gloo).

    /usr/bin/python3 bench/distributed/run.py [--rounds 3] [--only mlp,cnn] [--steps 23]

(./bench/distributed/run.sh installs what it needs and builds firn first.) For each model
(bench/models/<name>.firn, the same data, initialization and PyTorch twin as bench/run.py)
and K = 1, 2, 4 processes on this machine, with the global batch fixed (each rank takes
B / K samples of it):

  - firn: `mpirun -np K model train --steps S --metrics F`; step time = the time rank 0's
    metrics record from the end of step 3 to the end of step S, over S - 3 steps (the
    launch, loading and warm-up left out, as on PyTorch's side). K > 1
    runs four ways: the gradient buckets overlapping the backward pass with firn's default
    bucket size ("overlap"), the same with DDP's 25 MB buckets ("25 MB"), --no-overlap, and
    --zero1; and one process alone on one rank's share ("share alone": batch B / K with
    cores / K threads), which is what a rank computes: the step's excess over it is the
    price of data parallelism.
    Rank 0's own report gives the time per step it waited for the gradients after its
    backward pass (packing what was left, the allreduce not yet done, unpacking; and the
    other ranks, if they are slower): the exposed communication. Overlap achieved =
    1 - wait(overlap) / wait(no overlap).
  - PyTorch: DistributedDataParallel on the gloo backend, K processes, 3 warm-up steps
    then S - 3 timed (time.perf_counter between barriers); the BLAS rate right after (rank 0),
    as bench/run.py samples it, shows a round timed while OpenBLAS was slow.
  Each process gets cores / K threads (HL_NUM_THREADS, torch.set_num_threads), at least
  one: at K = 4 on a 2-core machine the ranks share cores (oversubscribed), so a rank's wait
  also holds the time the others' compute took: read K = 4 here as a check of
  correctness and of the communication pattern, not of speed.
  The sides alternate in short rounds; best and median over the rounds are printed, and
  each row's product FLOPs per second (bench/run.py's step_flops over the best step) as a
  fraction of the machine's matmul peak, torch.mm sampled before and after the rounds.

First MPI_Allreduce itself (bench/distributed/allreduce.c, built with mpicc) for 4 KB to
16 MB at K = 2 and 4, and per K the ring model t = 2 (K-1)/K * bytes / bandwidth +
2 (K-1) * latency fitted to it: the localhost point of docs/distributed.md's cost model,
whose predictions for K = 2 ... 64 on 10 and 100 Gbit/s networks the last table prints for
the measured models.
"""

import argparse
import importlib.util
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
spec = importlib.util.spec_from_file_location("benchrun", os.path.join(ROOT, "bench", "run.py"))
benchrun = importlib.util.module_from_spec(spec)
spec.loader.exec_module(benchrun)

FIRNC = os.path.join(ROOT, "build", "bin", "firnc")
CORES = os.cpu_count() or 1
RANKS = (1, 2, 4)
MPIRUN = ["mpirun", "--oversubscribe", "--bind-to", "none"]
# Open MPI refuses to run as root without these; set for the benchmark's runs only.
MPI_ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")


def threads(k):
    return max(1, CORES // k)


# K > 1: firn's default buckets, DDP's 25 MB buckets, and no overlap.
MODES = {"overlap": [], "25 MB": ["--bucket-mb", "25"], "no overlap": ["--no-overlap"],
         "zero1": ["--zero1"]}
ALONE = "share alone"  # One process on one rank's share (B / K, cores / K threads).


def firn_cmd(exe, d, m, k, steps, mode):
    batch = m["batch"] // k if mode == ALONE else m["batch"]
    cmd = [exe, "train", "--x", os.path.join(d, "x.npy"), "--y", os.path.join(d, "y.npy"),
           "--init", os.path.join(d, "init.safetensors"), "--batch-size", str(batch),
           "--steps", str(steps)] + MODES.get(mode, [])
    if mode == ALONE:
        return cmd
    env = ["-x", "HL_NUM_THREADS=%d" % threads(k)]
    return (MPIRUN + ["-np", str(k)] + env + cmd) if k > 1 else cmd


WARMUP = 3


def run_firn(exe, d, m, k, steps, mode):
    """Seconds per step after the warm-up, from rank 0's metrics (the time since the start
    of training at the end of each step), and rank 0's communication report."""
    env = dict(MPI_ENV, HL_NUM_THREADS=str(threads(k)))
    metrics = os.path.join(d, "metrics.jsonl")
    if os.path.exists(metrics):
        os.remove(metrics)
    r = subprocess.run(firn_cmd(exe, d, m, k, steps, mode) + ["--metrics", metrics],
                       env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("firn failed:\n" + r.stdout[-1500:] + r.stderr[-1500:])
    wait = re.search(r"([0-9.]+) ms per step waited", r.stdout)
    early = re.search(r"(\d+) of (\d+) buckets started during", r.stdout)
    sent = re.search(r"communicated ([0-9.]+) MB per step", r.stdout)
    with open(metrics) as f:
        seconds = [json.loads(l)["seconds"] for l in f if '"kind": "step"' in l]
    per_step = (seconds[-1] - seconds[WARMUP - 1]) / (len(seconds) - WARMUP)
    return per_step, (float(wait.group(1)) if wait else 0.0), \
        ((int(early.group(1)), int(early.group(2))) if early else (0, 0)), \
        (float(sent.group(1)) if sent else 0.0)


def ddp_worker(args):
    """One rank of PyTorch's DDP run: prints rank 0's seconds per step."""
    import numpy as np
    import torch
    import torch.distributed as dist
    import torch.nn.functional as F

    name, d, k, rank, port, steps, warmup = (args[0], args[1], int(args[2]), int(args[3]),
                                              args[4], int(args[5]), int(args[6]))
    torch.set_num_threads(threads(k))
    m = next(m for m in benchrun.MODELS if m["name"] == name)
    dist.init_process_group("gloo", init_method="tcp://127.0.0.1:" + port, rank=rank,
                            world_size=k)
    model, forward = benchrun.torch_model(m)
    opt = benchrun.torch_optimizer(m, model)
    x = torch.from_numpy(np.load(os.path.join(d, "x.npy")))
    y = torch.from_numpy(np.load(os.path.join(d, "y.npy")))

    # DDP hooks the parameters of the module it wraps; the bench models' forward is a
    # function over a ModuleDict, so run it through a module whose forward calls it.
    class Wrapped(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = model

        def forward(self, xs):
            return forward(xs)

    if k > 1:
        wrapped = torch.nn.parallel.DistributedDataParallel(Wrapped())
        forward_fn = wrapped
    else:
        forward_fn = forward

    def ddp_step(i):
        b = i % m["nbatches"]
        rows = slice(b * m["batch"], (b + 1) * m["batch"])
        xs, ys = x[rows][rank::k], y[rows][rank::k]
        opt.zero_grad()
        F.cross_entropy(forward_fn(xs), ys).backward()
        opt.step()

    for i in range(warmup):
        ddp_step(i)
    dist.barrier()
    t0 = time.perf_counter()
    for i in range(steps):
        ddp_step(warmup + i)
    dist.barrier()
    took = (time.perf_counter() - t0) / steps
    if rank == 0:  # The BLAS rate right after the timed steps (bench/run.py).
        print("%.9f %.1f" % (took, benchrun.blas_rate(torch)))
    dist.destroy_process_group()


def run_ddp(m, d, k, steps, warmup, port):
    procs = [subprocess.Popen([sys.executable, os.path.abspath(__file__), "--ddp-worker",
                               m["name"], d, str(k), str(r), str(port), str(steps),
                               str(warmup)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for r in range(k)]
    outs = [p.communicate() for p in procs]
    for p, (out, err) in zip(procs, outs):
        if p.returncode != 0:
            raise RuntimeError("DDP worker failed:\n" + err[-2000:])
    took, blas = outs[0][0].strip().splitlines()[-1].split()
    return float(took), float(blas)


def allreduce_fit(build):
    """Best allreduce times per size for K = 2, 4, and per K the ring model's two terms
    fitted to the sizes from 64 KB (least squares on t = c * bytes + d): the bandwidth
    2 (K-1)/K / c and the latency per ring step d / (2 (K-1))."""
    exe = os.path.join(build, "allreduce")
    subprocess.run(["mpicc", "-O2", "-o", exe, os.path.join(HERE, "allreduce.c")], check=True)
    points, fits = {}, {}
    for k in (2, 4):
        r = subprocess.run(MPIRUN + ["-np", str(k), exe], env=MPI_ENV, capture_output=True,
                           text=True, check=True)
        points[k] = [(int(a), float(b)) for a, b in (l.split() for l in r.stdout.split("\n") if l)]
        pts = [(n, t) for n, t in points[k] if n >= 65536]
        mn = statistics.mean(n for n, _ in pts)
        mt = statistics.mean(t for _, t in pts)
        c = sum((n - mn) * (t - mt) for n, t in pts) / sum((n - mn) ** 2 for n, _ in pts)
        dd = max(mt - c * mn, 0.0)
        fits[k] = (2 * (k - 1) / k / c, dd / (2 * (k - 1)))
    return points, fits


def ring(k, nbytes, bandwidth, latency):
    return 0.0 if k == 1 else 2 * (k - 1) / k * nbytes / bandwidth + 2 * (k - 1) * latency


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--ddp-worker":
        return ddp_worker(sys.argv[2:])
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", default="mlp,cnn")
    ap.add_argument("--steps", type=int, default=23)
    ap.add_argument("--keep")
    args = ap.parse_args()
    work = args.keep or tempfile.mkdtemp(prefix="firn-dist-bench-")
    os.makedirs(work, exist_ok=True)
    print("data-parallel training on localhost: %d cores, %s, global batch fixed; each "
          "process cores/K threads (at least 1)" % (CORES, time.strftime("%Y-%m-%d")))
    points, fits = allreduce_fit(work)
    # The machine's float32 matmul peak (bench/run.py's torch.mm measure), sampled
    # before and after the rounds: each firn row's product FLOPs per second is given
    # as a fraction of the higher sample, which does not depend on PyTorch's rounds.
    peaks = [benchrun.matmul_peak()]
    results = {}
    port = 29500 + os.getpid() % 1000
    for name in args.only.split(","):
        m = next(m for m in benchrun.MODELS if m["name"] == name)
        d = os.path.join(work, name)
        os.makedirs(d, exist_ok=True)
        benchrun.prepare(m, d)
        exe = os.path.join(d, name)
        subprocess.run([FIRNC, os.path.join(ROOT, "bench", "models", m["file"]), "-o", exe],
                       check=True, capture_output=True)
        # (side, K, mode) -> per round: (seconds per step, waited s per step, buckets
        # (early, all), MB sent per step, BLAS GFLOP/s during PyTorch's round)
        rows = {}
        for rnd in range(args.rounds):
            for k in RANKS:
                for mode in (("overlap",) if k == 1 else tuple(MODES) + (ALONE,)):
                    took, wait_s, early, sent = run_firn(exe, d, m, k, args.steps, mode)
                    rows.setdefault(("firn", k, mode), []).append(
                        (took, wait_s / 1e3, early, sent, 0))
                port += 1
                took, blas = run_ddp(m, d, k, args.steps - WARMUP, WARMUP, port)
                rows.setdefault(("torch", k, "DDP"), []).append((took, 0.0, (0, 0), 0.0, blas))
        results[name] = (m, rows, benchrun.step_flops(m))
    peaks.append(benchrun.matmul_peak())
    peak = max(peaks)
    print("matmul peak (torch.mm 1024^2, 2 threads) before and after the rounds: "
          "%.0f and %.0f GFLOP/s" % tuple(peaks))
    for name, (m, rows, flops) in results.items():
        print("\n%s (global batch %d, %.2f GFLOP of products per step)" % (
            m["label"], m["batch"], flops / 1e9))
        print("  %-6s %2s  %-10s %9s %10s %8s %10s %10s %6s %14s" % (
            "side", "K", "mode", "best ms", "median ms", "vs K=1", "waited ms", "early/all",
            "BLAS", "GFLOP/s (peak)"))
        base = {side: min(v[0] for v in rows[(side, 1, mode)])
                for side, mode in (("firn", "overlap"), ("torch", "DDP"))}
        for key in sorted(rows):
            vals = rows[key]
            times = [v[0] for v in vals]
            firn_k = key[0] == "firn" and key[1] > 1 and key[2] != ALONE
            # (One rank's share alone computes 1/K of the global batch's products.)
            share = key[1] if key[2] == ALONE else 1
            rate = flops / share / min(times) / 1e9
            print("  %-6s %2d  %-10s %9.2f %10.2f %7.2fx %10s %10s %6s %14s" % (
                key[0], key[1], key[2], min(times) * 1e3, statistics.median(times) * 1e3,
                min(times) / base[key[0]],
                "%.3f" % (statistics.median(v[1] for v in vals) * 1e3) if firn_k else "-",
                "%d/%d" % vals[-1][2] if firn_k else "-",
                "%.0f" % statistics.median(v[4] for v in vals) if key[0] == "torch" else "-",
                "%.0f (%.0f%%)" % (rate, 100 * rate / peak)))
        for k in RANKS[1:]:
            wait = {mode: statistics.median(v[1] for v in rows[("firn", k, mode)])
                    for mode in MODES}
            nbytes = rows[("firn", k, "overlap")][-1][3] * 1e6
            bw, lat = fits[k]
            best = {mode: min(v[0] for v in rows[("firn", k, mode)])
                    for mode in tuple(MODES) + (ALONE,)}
            print("  firn K=%d: %.2f MB of gradients per rank per step; waited %.3f ms per step "
                  "without overlap, %.3f with DDP's 25 MB buckets, %.3f with firn's default "
                  "(%.0f%% hidden); the allreduce alone, by the fitted model: %.3f ms; best "
                  "step over one rank's share alone: %+.3f ms (overlap), %+.3f (no overlap), "
                  "%+.3f (zero1)" % (
                      k, nbytes / 1e6, wait["no overlap"] * 1e3, wait["25 MB"] * 1e3,
                      wait["overlap"] * 1e3,
                      100 * (1 - wait["overlap"] / wait["no overlap"]) if wait["no overlap"] else 0,
                      ring(k, nbytes, bw, lat) * 1e3,
                      (best["overlap"] - best[ALONE]) * 1e3,
                      (best["no overlap"] - best[ALONE]) * 1e3,
                      (best["zero1"] - best[ALONE]) * 1e3))

    print("\nMPI_Allreduce of float sums on localhost (best of repetitions, slowest rank):")
    for k, pts in points.items():
        bw, lat = fits[k]
        print("  K=%d: " % k + ", ".join("%d KB %.3f ms" % (n // 1024, t * 1e3) for n, t in pts))
        print("       ring model fitted from 64 KB: bandwidth %.2f GB/s, latency %.1f us per "
              "ring step; model: " % (bw / 1e9, lat * 1e6) +
              ", ".join("%d KB %.3f ms" % (n // 1024, ring(k, n, bw, lat) * 1e3)
                        for n, _ in pts))

    # The cost model for the measured models (docs/distributed.md): per-rank compute scales
    # as 1/K at a fixed global batch (strong scaling) or stays at the one-process step at a
    # fixed batch per rank (weak scaling); communication as the ring model, not overlapped.
    print("\npredicted step time (ms) and scaling efficiency, no overlap assumed:")
    nets = (("10 Gbit/s", 1.25e9, 20e-6), ("100 Gbit/s", 12.5e9, 5e-6))
    print("  %-8s %-10s %8s" % ("model", "network", "scaling") +
          "".join("%16s" % ("K=%d" % k) for k in (2, 4, 8, 16, 32, 64)))
    for name, (m, rows, _) in results.items():
        t1 = min(v[0] for v in rows[("firn", 1, "overlap")])
        nbytes = rows[("firn", 2, "overlap")][-1][3] * 1e6
        for net, bw, lat in nets:
            for scaling in ("strong", "weak"):
                cells = []
                for k in (2, 4, 8, 16, 32, 64):
                    compute = t1 / k if scaling == "strong" else t1
                    t = compute + ring(k, nbytes, bw, lat)
                    cells.append("%7.2f (%3.0f%%)" % (t * 1e3, 100 * compute / t))
                print("  %-8s %-10s %8s" % (name, net, scaling) +
                      "".join("%16s" % c for c in cells))
    print("  (t1, the one-process step, and the gradient bytes as measured above; latency "
          "20 us per ring step on 10 Gbit/s TCP, 5 us on 100 Gbit/s RDMA)")


if __name__ == "__main__":
    main()
