"""NCCL traffic for the acceltel sidecar example.

Each rank all-reduces a 256 MiB buffer with the others of the pod, STEPS
times. NCCL loads acceltel's profiler plugin (NCCL_PROFILER_PLUGIN), which
sends one record per all-reduce to the sidecar's nccl receiver; the NCCL
dashboard then shows the operation rate, latency, bus bandwidth and how far
apart the ranks complete. Run with torchrun (see job.yaml).
"""

import os

import torch
import torch.distributed as dist


def main() -> None:
    dist.init_process_group("nccl")
    torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    buf = torch.ones(64 * 1024 * 1024, device="cuda")  # 256 MiB of float32
    for _ in range(int(os.environ.get("STEPS", "5000"))):
        dist.all_reduce(buf)
    torch.cuda.synchronize()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
