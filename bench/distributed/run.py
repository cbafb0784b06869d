#!/usr/bin/python3
"""Data-parallel training on localhost: firn under mpirun against PyTorch DDP (gloo).

    /usr/bin/python3 bench/distributed/run.py [--rounds 3] [--only mlp,cnn] [--steps 11]

(./bench/distributed/run.sh installs what it needs and builds firn first.) For each model
(bench/models/<name>.firn, the same data, initialization and PyTorch twin as bench/run.py)
and K = 1, 2, 4 processes on this machine, with the global batch fixed (each rank takes
B / K samples of it):

  - firn: `mpirun -np K model train --steps S` and `--steps 1`; step time =
    (wall(S) - wall(1)) / (S - 1), which removes start-up, loading and the first step. K > 1
    runs twice: overlapping the gradient buckets with the backward pass (the default) and
    with --no-overlap. Rank 0's own report gives the time per step it waited for the
    gradients after its backward pass (packing, the allreduce not yet done, unpacking): the
    exposed communication. Overlap achieved = 1 - wait(overlap) / wait(no overlap).
  - PyTorch: DistributedDataParallel on the gloo backend, K processes, W warm-up steps
    then S timed (time.perf_counter between barriers).
  Each process gets cores / K threads (HL_NUM_THREADS, torch.set_num_threads), at least
  one: at K = 4 on a 2-core machine the ranks share cores (oversubscribed), so a rank's wait
  also holds the time the others' compute took: read K = 4 here as a check of
  correctness and of the communication pattern, not of speed.
  The sides alternate in short rounds; best and median over the rounds are printed.

Then MPI_Allreduce itself (bench/distributed/allreduce.c, built with mpicc) for 4 KB to
16 MB at K = 2 and 4, and the ring model t = 2 (K-1)/K * bytes / bandwidth + 2 (K-1) *
latency fitted to it (least squares): the localhost point of docs/distributed.md's cost
model, whose predictions for K = 2 ... 64 on 10 and 100 Gbit/s networks the last table
prints for the measured models.
"""

import argparse
import importlib.util
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


def firn_cmd(exe, d, m, k, steps, overlap):
    cmd = [exe, "train", "--x", os.path.join(d, "x.npy"), "--y", os.path.join(d, "y.npy"),
           "--init", os.path.join(d, "init.safetensors"), "--batch-size", str(m["batch"]),
           "--steps", str(steps)]
    if not overlap:
        cmd.append("--no-overlap")
    env = ["-x", "HL_NUM_THREADS=%d" % threads(k)]
    return (MPIRUN + ["-np", str(k)] + env + cmd) if k > 1 else cmd


def run_firn(exe, d, m, k, steps, overlap):
    env = dict(MPI_ENV, HL_NUM_THREADS=str(threads(k)))
    t0 = time.perf_counter()
    r = subprocess.run(firn_cmd(exe, d, m, k, steps, overlap), env=env,
                       capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError("firn failed:\n" + r.stdout[-1500:] + r.stderr[-1500:])
    wait = re.search(r"([0-9.]+) ms per step waited", r.stdout)
    early = re.search(r"(\d+) of (\d+) buckets started during", r.stdout)
    sent = re.search(r"communicated ([0-9.]+) MB per step", r.stdout)
    return wall, (float(wait.group(1)) if wait else 0.0), \
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
    if rank == 0:
        print("%.9f" % took)
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
    return float(outs[0][0].strip().splitlines()[-1])


def allreduce_fit(build):
    """Best allreduce times per size for K = 2, 4, and the ring model fitted to them."""
    exe = os.path.join(build, "allreduce")
    subprocess.run(["mpicc", "-O2", "-o", exe, os.path.join(HERE, "allreduce.c")], check=True)
    points = {}
    for k in (2, 4):
        r = subprocess.run(MPIRUN + ["-np", str(k), exe], env=MPI_ENV, capture_output=True,
                           text=True, check=True)
        points[k] = [(int(a), float(b)) for a, b in (l.split() for l in r.stdout.split("\n") if l)]
    # t = a * x + b * y with x = 2 (K-1)/K * bytes, y = 2 (K-1): a = 1/bandwidth, b = latency.
    sxx = sxy = syy = sxt = syt = 0.0
    for k, pts in points.items():
        for n, t in pts:
            x, y = 2 * (k - 1) / k * n, 2 * (k - 1)
            sxx, sxy, syy, sxt, syt = sxx + x * x, sxy + x * y, syy + y * y, sxt + x * t, syt + y * t
    det = sxx * syy - sxy * sxy
    a = (sxt * syy - syt * sxy) / det
    b = (sxx * syt - sxy * sxt) / det
    return points, 1.0 / a, b


def ring(k, nbytes, bandwidth, latency):
    return 0.0 if k == 1 else 2 * (k - 1) / k * nbytes / bandwidth + 2 * (k - 1) * latency


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--ddp-worker":
        return ddp_worker(sys.argv[2:])
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", default="mlp,cnn")
    ap.add_argument("--steps", type=int, default=11)
    ap.add_argument("--keep")
    args = ap.parse_args()
    work = args.keep or tempfile.mkdtemp(prefix="firn-dist-bench-")
    os.makedirs(work, exist_ok=True)
    print("data-parallel training on localhost: %d cores, %s, global batch fixed; each "
          "process cores/K threads (at least 1)" % (CORES, time.strftime("%Y-%m-%d")))
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
        rows = {}  # (side, k, mode) -> [seconds per step], and waits
        for rnd in range(args.rounds):
            for k in RANKS:
                for overlap in ((True,) if k == 1 else (True, False)):
                    wall_s, wait_s, early, sent = run_firn(exe, d, m, k, args.steps, overlap)
                    wall_1, _, _, _ = run_firn(exe, d, m, k, 1, overlap)
                    key = ("firn", k, "overlap" if overlap else "no overlap")
                    rows.setdefault(key, []).append(
                        ((wall_s - wall_1) / (args.steps - 1), wait_s / 1e3, early, sent))
                port += 1
                rows.setdefault(("torch", k, "DDP"), []).append(
                    (run_ddp(m, d, k, args.steps, 3, port), 0.0, (0, 0), 0.0))
        results[name] = (m, rows)
        print("\n%s (global batch %d)" % (m["label"], m["batch"]))
        print("  %-6s %2s  %-10s %10s %10s %12s %14s %12s" % (
            "side", "K", "mode", "best ms", "median ms", "vs K=1", "waited ms/step",
            "early/all"))
        base = {side: min(v[0] for v in rows[(side, 1, mode)])
                for side, mode in (("firn", "overlap"), ("torch", "DDP"))}
        for key in sorted(rows, key=lambda k: (k[0], k[1], k[2])):
            vals = rows[key]
            times = [v[0] for v in vals]
            best, med = min(times), statistics.median(times)
            wait = statistics.median(v[1] for v in vals)
            early = vals[-1][2]
            print("  %-6s %2d  %-10s %10.2f %10.2f %11.2fx %14s %12s" % (
                key[0], key[1], key[2], best * 1e3, med * 1e3, best / base[key[0]],
                "%.3f" % (wait * 1e3) if key[0] == "firn" and key[1] > 1 else "-",
                "%d/%d" % early if key[0] == "firn" and key[1] > 1 else "-"))
        for k in RANKS[1:]:
            w_on = statistics.median(v[1] for v in rows[("firn", k, "overlap")])
            w_off = statistics.median(v[1] for v in rows[("firn", k, "no overlap")])
            print("  firn K=%d: %.2f MB of gradients per step per rank; overlap hid %.0f%% of "
                  "the wait (%.3f -> %.3f ms per step)" % (
                      k, rows[("firn", k, "overlap")][-1][3],
                      100 * (1 - w_on / w_off) if w_off > 0 else 0, w_off * 1e3, w_on * 1e3))

    points, bandwidth, latency = allreduce_fit(work)
    print("\nMPI_Allreduce on localhost (best of repetitions, slowest rank):")
    for k, pts in points.items():
        print("  K=%d: " % k + ", ".join("%d KB %.3f ms" % (n // 1024, t * 1e3) for n, t in pts))
    print("  ring model fitted: bandwidth %.2f GB/s, latency %.1f us per ring step"
          % (bandwidth / 1e9, latency * 1e6))
    print("  checked: " + ", ".join(
        "K=%d %d KB %.3f ms (model %.3f)" % (k, n // 1024, t * 1e3,
                                              ring(k, n, bandwidth, latency) * 1e3)
        for k, pts in points.items() for n, t in pts if n in (65536, 4 << 20)))

    # The cost model for the measured models (docs/distributed.md): per-rank compute scales
    # as 1/K at a fixed global batch (strong scaling) or stays at the one-process step at a
    # fixed batch per rank (weak scaling); communication as the ring model, not overlapped.
    print("\npredicted step time (ms) and scaling efficiency, no overlap assumed:")
    nets = (("10 Gbit/s", 1.25e9, 20e-6), ("100 Gbit/s", 12.5e9, 5e-6))
    print("  %-8s %-10s %8s" % ("model", "network", "scaling") +
          "".join("%16s" % ("K=%d" % k) for k in (2, 4, 8, 16, 32, 64)))
    for name, (m, rows) in results.items():
        t1 = min(v[0] for v in rows[("firn", 1, "overlap")])
        nbytes = rows[("firn", 2, "overlap")][-1][3] * 1e6
        for net, bw, lat in nets:
            for scaling in ("strong", "weak"):
                cells = []
                for k in (2, 4, 8, 16, 32, 64):
                    compute = t1 / k if scaling == "strong" else t1
                    t = compute + ring(k, nbytes, bw, lat)
                    eff = (t1 / k if scaling == "strong" else t1) / t
                    cells.append("%7.2f (%3.0f%%)" % (t * 1e3, 100 * eff))
                print("  %-8s %-10s %8s" % (name, net, scaling) + "".join("%16s" % c for c in cells))
    print("  (one-process step time t1 and gradient bytes as measured above; latency "
          "20 us per ring step on 10 Gbit/s TCP, 5 us on 100 Gbit/s RDMA)")


if __name__ == "__main__":
    main()
