"""Which float type the matmuls run in: `train.dtype` = auto | bf16 | fp32, resolved once per run.

`auto` is resolved when a run starts and the result is written to its config.json (with the reason in run.json), so
every later evaluation of that run (its summary, `squeeze eval`, ensemble evaluation, the study) uses the dtype it
trained in, on any machine. The rule, from measurements:
- GPU: bf16 autocast.
- CPU, eager (the default): fp32. bf16 autocast is slower than fp32 without torch.compile even on a CPU with native
  bf16: 0.83-0.87x vs 0.90-0.97x of the reference GPT's tokens/s on a 2-core AMX Xeon at the default preset's shape,
  and ~2x slower on a CPU that emulates bf16 (3.0k vs 5.5k tokens/s on this project's 2-core AVX512 Xeon).
- CPU with train.compile and native bf16 (AVX512-BF16 or AMX): bf16, 1.79-1.88x vs fp32's 1.41-1.46x there.
fp32 on every eager CPU run also makes the same `squeeze run` give the same numbers on CPUs with and without bf16.
Exercised by tests/test_trainer.py.
"""
from contextlib import nullcontext
from functools import lru_cache

import torch

from squeeze.device.perf import cpu_info


@lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    flags = cpu_info()["flags"]
    return flags["avx512_bf16"] or flags["amx_bf16"]


def choose_dtype(dtype: str, device: str | torch.device, compiled: bool = False,
                 native_bf16: bool | None = None) -> tuple[str, str]:
    """('bf16' | 'fp32', why) for a run on `device`; `native_bf16` None asks this CPU (tests pin it)."""
    if dtype != "auto":
        return dtype, "asked for"
    kind = torch.device(device).type
    if kind == "cuda":
        return "bf16", "auto: GPU"
    if kind != "cpu":
        return "fp32", f"auto: {kind}"
    native = cpu_has_native_bf16() if native_bf16 is None else native_bf16
    if compiled and native:
        return "bf16", "auto: compiled, CPU with native bf16"
    if compiled:
        return "fp32", "auto: CPU without native bf16 (emulated bf16 is ~2x slower)"
    return "fp32", "auto: eager on CPU (bf16 autocast is slower than fp32 without torch.compile)"


def resolve_dtype(dtype: str, device: str | torch.device, compiled: bool = False) -> str:
    """'bf16' or 'fp32' for `device` (see choose_dtype); a run's config.json already holds the resolved one."""
    return choose_dtype(dtype, device, compiled)[0]


def autocast(device: str | torch.device, dtype: str):
    """bf16 autocast on CPU or GPU, or nothing for fp32 (`dtype` already resolved)."""
    if dtype != "bf16":
        return nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)
