"""Achieved FLOP/s and model FLOPs utilization (MFU) against a peak measured on the spot, and what CPU this is.

A run's MFU is its training FLOPs per second (squeeze.model.GPT.flops_per_token x tokens / wall seconds) over the
matmul FLOP/s the same device reaches in the run's dtype with the run's thread count. The peak is *measured*, not
taken from a data sheet: one n x n @ n x n matmul (2·n³ FLOPs), n doubled from 256 while one product takes under
20 ms (up to 2048 on a CPU, 8192 on a GPU), then the best of a few repetitions within ~0.15 s: 0.15-0.45 s in all
on the project's 2-core AMX Xeon. It is cached per process and per (device, dtype, threads), so a study's worker
pays it once, and probed again only after a run that reached over 90% of it (the best probe is kept). Being what a
large matmul achieves here, it sits below a data sheet's peak (on that Xeon, 2 threads: ~350 GFLOP/s fp32,
~1.8-2.3 TFLOP/s bf16 on AMX), so an MFU against it reads higher than one against a data sheet.

The probe draws its inputs from a private generator: the global RNG, and with it every training number, is left
as it was. The trainer writes `flops_per_second`, `peak_flops` and `mfu` into summary.json with these functions;
benchmarks/throughput.py uses the same probe with more repetitions. Exercised by tests/test_perf.py.
"""
import time

import torch

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")  # what decides CPU matmul speed: the flags worth printing
_SLOW_ENOUGH_S = 0.02  # one product of at least 20 ms: big enough to reach the matmul peak, small enough to repeat
RECHECK = 0.9  # a run above this MFU probes the peak again (peak_flops)
_MAX_N = {"cpu": 2048, "cuda": 8192}  # CPU: 2048 reached the peak of 4096 on the 2-core Xeon (fp32 338 vs 324 GF/s)


def matmul_flops(n: int) -> int:
    """FLOPs of one n x n @ n x n product: n² outputs, each n multiplies and n adds."""
    return 2 * n ** 3


def flops_per_second(flops: float, seconds: float) -> float:
    """Achieved FLOP/s: `flops` done in `seconds` of wall clock (0 for a run that took no time)."""
    return flops / seconds if seconds > 0 else 0.0


def mfu(achieved: float, peak: float) -> float:
    """Model FLOPs utilization: achieved FLOP/s over the peak FLOP/s (0 when there is no peak)."""
    return achieved / peak if peak > 0 else 0.0


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_rate(n: int, device: str | torch.device, dtype: str, reps: int = 5, budget_s: float = 0.15) -> float:
    """Best FLOP/s of `reps` n x n products in `dtype` ('fp32' | 'bf16') on `device` after one warm-up, stopping
    early once `budget_s` is spent (at least one timed product)."""
    device = torch.device(device)
    g = torch.Generator(device=device).manual_seed(0)  # private: the global RNG stream stays untouched
    a, b = (torch.randn(n, n, device=device, dtype=DTYPES[dtype], generator=g) for _ in range(2))
    a @ b  # warm-up: thread pool, kernel choice, GPU clocks
    _sync(device)
    best, began = float("inf"), time.perf_counter()
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        _sync(device)
        best = min(best, time.perf_counter() - t)
        if time.perf_counter() - began > budget_s:
            break
    return matmul_flops(n) / best


def probe_peak(device: str | torch.device, dtype: str, max_n: int | None = None, budget_s: float = 0.15) -> float:
    """Peak matmul FLOP/s of `device` in `dtype`: n doubles from 256 while one product takes under 20 ms (so a
    slow CPU or an emulated bf16 stays well under a second), then the best of a few products at that n."""
    device = torch.device(device)
    max_n = max_n or _MAX_N.get(device.type, 2048)
    n = 256
    while n < max_n:
        if matmul_flops(n) / matmul_rate(n, device, dtype, reps=1) >= _SLOW_ENOUGH_S:
            break
        n *= 2
    return matmul_rate(n, device, dtype, budget_s=budget_s)


_PEAKS: dict[tuple[str, str, int], float] = {}  # this process's best probe per (device, dtype, torch threads)


def peak_flops(device: str | torch.device, dtype: str, achieved: float = 0.0) -> float:
    """probe_peak, measured once per process for each (device, dtype, torch thread count), and once more whenever a
    run's `achieved` FLOP/s on that device exceed RECHECK of it; the process keeps the best of its probes. A probe
    can meet busier cores than the run it is compared with: on the flagship's 2-core machine, two workers' first
    probes read 44-71 GFLOP/s fp32 and runs measured against a low one read up to 103% MFU."""
    key = (str(torch.device(device)), dtype, torch.get_num_threads())
    if key not in _PEAKS or achieved > RECHECK * _PEAKS[key]:
        _PEAKS[key] = max(_PEAKS.get(key, 0.0), probe_peak(key[0], dtype))
    return _PEAKS[key]


def cpu_info() -> dict:
    """The CPU's model name, which of FLAGS it has, and torch's thread count (what the CPU numbers depend on)."""
    name, flags = "unknown", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and name == "unknown":
                    name = value.strip()
                elif key.strip() == "flags" and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    return {"model": name, "flags": {f: f in flags for f in FLAGS}, "threads": torch.get_num_threads()}


def flags_text(info: dict) -> str:
    """cpu_info()'s flags as the benchmarks print them: 'avx2 yes, avx512f yes, avx512_bf16 yes, amx_bf16 no'."""
    return ", ".join(f"{f} {'yes' if v else 'no'}" for f, v in info["flags"].items())
