"""Which float type the matmuls run in: `train.dtype` = auto | bf16 | fp32, resolved per device.

bf16 autocast pays off on GPUs and on CPUs with native bf16 (AVX512-BF16 or AMX); on other CPUs torch emulates
it and a training step is ~2x slower than fp32 (measured on this project's 2-core AVX512 Xeon: 3.0k vs 5.5k
tokens/s for the default model), so `auto` picks fp32 there. Exercised by tests/test_trainer.py.
"""
from contextlib import nullcontext
from functools import lru_cache

import torch


@lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_dtype(dtype: str, device: str | torch.device) -> str:
    """'bf16' or 'fp32' for `device`; 'auto' becomes bf16 where it is fast."""
    if dtype != "auto":
        return dtype
    kind = torch.device(device).type
    return "bf16" if kind == "cuda" or (kind == "cpu" and cpu_has_native_bf16()) else "fp32"


def autocast(device: str | torch.device, dtype: str):
    """bf16 autocast on CPU or GPU, or nothing for fp32 (`dtype` already resolved)."""
    if dtype != "bf16":
        return nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)
