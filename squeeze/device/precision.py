"""Which float type the matmuls run in: `train.dtype` = auto | bf16 | fp32, resolved once per run.

`auto` is resolved when a run starts and the result is written to its config.json (with the reason in run.json), so
every later evaluation of that run (its summary, `squeeze eval`, ensemble evaluation, the study) uses the dtype it
trained in, on any machine. The rule, from measurements:
- GPU: bf16 autocast.
- CPU, eager (the default): fp32. bf16 autocast is slower than fp32 without torch.compile even on a CPU with native
  bf16: 0.83-0.87x vs 0.90-0.97x of the reference GPT's tokens/s on a 2-core AMX Xeon at the default preset's shape,
  and ~2x slower on a CPU that emulates bf16 (3.0k vs 5.5k tokens/s on this project's 2-core AVX512 Xeon).
- CPU with train.compile and native bf16 (AVX512-BF16 or AMX): bf16 for models of width >= BF16_MIN_WIDTH, 1.75-1.94x
  the reference vs fp32's 1.15x at 4 x 128, ctx 256; fp32 below it, where compiled fp32 measured faster (1.13-1.17x
  vs 1.01x at 2 x 64, ctx 128; benchmarks/RESULTS.md).
fp32 on every eager CPU run also makes the same `squeeze run` give the same numbers on CPUs with and without bf16.

`train.compile` = auto | on | off is resolved the same way, once per run, into config.json (the reason into run.json),
by `choose_compile`: compile when the time it saves, the run's predicted eager seconds x (1 - 1/gain), is more than
COMPILE_MARGIN times a cold compile's start-up. A warm inductor cache starts in 0.3-0.6 s instead, so there a run
that compiles pays off sooner than the rule assumes; a cold compile at 1 thread (~25 s) takes longer than the 2-thread
figure the rule uses. The constants are measured by benchmarks/throughput.py and benchmarks/study_speed.py on 2-core
CPUs (benchmarks/RESULTS.md): eager FLOP/s per thread at the fast end (so the predicted time errs short), the
compiled-over-eager speed in each dtype, and the cold start-up.
Exercised by tests/test_trainer.py and tests/test_compile.py.
"""
from contextlib import nullcontext
from functools import lru_cache

import torch

from squeeze.device.perf import cpu_info


@lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    flags = cpu_info()["flags"]
    return flags["avx512_bf16"] or flags["amx_bf16"]


BF16_MIN_WIDTH = 128  # compiled CPU runs narrower than this measured faster in fp32


def choose_dtype(dtype: str, device: str | torch.device, compiled: bool = False,
                 native_bf16: bool | None = None, width: int | None = None) -> tuple[str, str]:
    """('bf16' | 'fp32', why) for a run on `device` of model width `width` (None: wide); `native_bf16` None asks
    this CPU (tests pin it)."""
    if dtype != "auto":
        return dtype, "asked for"
    kind = torch.device(device).type
    if kind == "cuda":
        return "bf16", "auto: GPU"
    if kind != "cpu":
        return "fp32", f"auto: {kind}"
    native = cpu_has_native_bf16() if native_bf16 is None else native_bf16
    if compiled and native and (width or BF16_MIN_WIDTH) < BF16_MIN_WIDTH:
        return "fp32", f"auto: compiled, width {width} < {BF16_MIN_WIDTH} (there compiled fp32 measured faster)"
    if compiled and native:
        return "bf16", "auto: compiled, CPU with native bf16"
    if compiled:
        return "fp32", "auto: CPU without native bf16 (emulated bf16 is ~2x slower)"
    return "fp32", "auto: eager on CPU (bf16 autocast is slower than fp32 without torch.compile)"


# Measured on 2-core CPUs (benchmarks/throughput.py, benchmarks/study_speed.py, benchmarks/RESULTS.md): squeeze's
# eager model ran at 39-58 GFLOP/s per thread on the AMX Xeon (2 x 64 and 4 x 128; slower on the AMD EPYC), so 6e10
# is the fast end; compiled runs were 1.4-1.5x its eager speed in fp32 and 2.2-2.3x in bf16 where bf16 is native
# (1.3x and 1.7x taken); a cold compile of model and loss took 10-16 s at 2 threads (~25 s at 1 thread), a warm one
# 0.3-0.6 s (16 s taken). With the eager rate at its fast end the predicted time errs short, so the rule errs
# towards eager; on a warm cache every run past the bar gains far more than its start-up. No GPU was lent to measure
# the CUDA entries: they are assumptions, and the gpu preset asks for compile=on.
EAGER_FLOPS_PER_THREAD = 6e10
EAGER_FLOPS_CUDA = 5e13
COMPILE_GAIN = {("cpu", "fp32"): 1.3, ("cpu", "bf16"): 1.7, ("cuda", "bf16"): 1.3, ("cuda", "fp32"): 1.3}
COMPILE_START_S = {"cpu": 16.0, "cuda": 60.0}
COMPILE_MARGIN = 1.0


def choose_compile(setting: str, device: str | torch.device, train_flops: float, threads: int, dtype: str = "auto",
                   native_bf16: bool | None = None, width: int | None = None) -> tuple[bool, str]:
    """(compile?, why) for a run of `train_flops` training FLOPs on `device` with `threads` CPU threads; `dtype` is
    the run's train.dtype setting (auto takes the dtype a compiled run of model width `width` would); `native_bf16`
    None asks this CPU."""
    if setting != "auto":
        return setting == "on", "asked for"
    kind = torch.device(device).type
    if kind not in COMPILE_START_S:
        return False, f"auto: {kind}"
    compiled_dtype = choose_dtype(dtype, device, True, native_bf16, width)[0]
    gain, start = COMPILE_GAIN[(kind, compiled_dtype)], COMPILE_START_S[kind]
    rate = EAGER_FLOPS_CUDA if kind == "cuda" else EAGER_FLOPS_PER_THREAD * max(threads, 1)
    eager_s = train_flops / rate
    saved_s = eager_s * (1 - 1 / gain)
    verdict = (f"~{eager_s:,.0f} s eager; compiling in {compiled_dtype} ({gain:g}x) would save ~{saved_s:,.0f} s, "
               f"the bar is {COMPILE_MARGIN:g} x a {start:g} s cold start")
    return saved_s > COMPILE_MARGIN * start, f"auto: {verdict}"


def resolve_dtype(dtype: str, device: str | torch.device, compiled: bool = False) -> str:
    """'bf16' or 'fp32' for `device` (see choose_dtype); a run's config.json already holds the resolved one."""
    return choose_dtype(dtype, device, compiled)[0]


def autocast(device: str | torch.device, dtype: str):
    """bf16 autocast on CPU or GPU, or nothing for fp32 (`dtype` already resolved)."""
    if dtype != "bf16":
        return nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)
