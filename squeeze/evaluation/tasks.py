"""Zero-shot multiple-choice accuracy: a local `{context, choices, label}` jsonl, or the built-in `heldout` task.

Scoring follows the evaluation harnesses (lm-evaluation-harness): each choice's log-likelihood given the
context is the sum of its tokens' log-probabilities; `acc` picks the highest sum, `acc_norm` the highest sum per
UTF-8 byte of the choice (the harness's per-character normalization, equal to it for ASCII text), which removes
the bias toward short answers. Context whitespace at its end moves to the continuation before tokenizing, and an
`<|endoftext|>` is prepended (every training document follows one). A context longer than the model's window is
cut from the left; the continuation is always scored whole.

The `heldout` task needs no download: from the store's held-out validation documents (never trained on), each
example shows a document's first `context_tokens` tokens and offers four continuations of `continuation_tokens`
tokens: the true one and the same span cut from three other held-out documents, in a seeded random order. Chance
is 0.25. `heldout_accuracy` is what the study calls to report accuracy next to loss.

Run with `squeeze eval RUN_DIR --task PATH.jsonl` or `--task heldout`; exercised by tests/test_eval_tasks.py.
"""
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from squeeze.device.precision import autocast, resolve_dtype
from squeeze.errors import SqueezeError
from squeeze.train.checkpoint import check_tokenizer, load_run
from squeeze.train.setup import bind_to_store

HELDOUT = "heldout"


@dataclass
class Example:
    """One scored question in token space: context ids, each choice's ids and UTF-8 bytes, the right index."""
    context: list[int]
    choices: list[list[int]]
    choice_bytes: list[int]
    label: int


def read_mc_jsonl(path: str | Path) -> list[dict]:
    """Rows of `{"context": str, "choices": [str, ...], "label": int}`; any other shape is an error by line."""
    path, rows = Path(path), []
    if not path.is_file():
        raise SqueezeError(f"{path}: no such task file (a .jsonl of context, choices, label; or 'heldout')")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise SqueezeError(f"{path}: not a task file (invalid UTF-8 at byte {e.start})") from None
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (json.JSONDecodeError, RecursionError):  # RecursionError: nested thousands of levels deep
            raise SqueezeError(f"{path}:{n}: not valid JSON") from None
        ok = (isinstance(row, dict) and isinstance(row.get("context"), str) and isinstance(row.get("choices"), list)
              and len(row["choices"]) >= 2 and all(isinstance(c, str) and c for c in row["choices"])
              and isinstance(row.get("label"), int) and 0 <= row["label"] < len(row["choices"]))
        if not ok:
            raise SqueezeError(f"{path}:{n}: expected {{\"context\": str, \"choices\": [2+ non-empty str], "
                               "\"label\": index into choices}")
        rows.append(row)
    if not rows:
        raise SqueezeError(f"{path}: no examples")
    return rows


def encode_pair(encode: Callable[[str], list[int]], context: str, choice: str) -> tuple[list[int], list[int], int]:
    """(context ids, continuation ids, continuation bytes), the harness way: trailing context whitespace moves
    to the continuation, and the continuation is what encoding the whole adds after the context's tokens."""
    stripped = context.rstrip()
    cont = context[len(stripped):] + choice
    ctx_ids = encode(stripped)
    whole = encode(stripped + cont)
    if whole[:len(ctx_ids)] == ctx_ids:
        return ctx_ids, whole[len(ctx_ids):], len(choice.encode("utf-8"))
    return ctx_ids, encode(cont), len(choice.encode("utf-8"))  # a merge across the boundary: encode apart


def examples_from_rows(rows: list[dict], encode: Callable[[str], list[int]]) -> list[Example]:
    out = []
    for row in rows:
        pairs = [encode_pair(encode, row["context"], c) for c in row["choices"]]
        out.append(Example(pairs[0][0], [p[1] for p in pairs], [p[2] for p in pairs], row["label"]))
    return out


@torch.no_grad()
def choice_logliks(logits_fn, ex: Example, bos: int, seq_len: int, device: str = "cpu",
                   dtype: str = "fp32") -> list[float]:
    """Sum of log p(continuation tokens | bos + context) for each choice, in one padded batch."""
    rows, spans = [], []
    for cont in ex.choices:
        if len(cont) > seq_len:
            raise SqueezeError(f"a choice of {len(cont)} tokens does not fit the model's {seq_len}-token context")
        seq = ([bos] + ex.context + cont)[-(seq_len + 1):]
        rows.append(seq)
        spans.append(len(cont))
    T = max(len(r) for r in rows) - 1
    ids_BT1 = torch.tensor([r + [bos] * (T + 1 - len(r)) for r in rows])  # right padding: causal, never read
    with autocast(device, resolve_dtype(dtype, device)):
        logits_BTV = logits_fn(ids_BT1[:, :-1].to(device))
    logp_BTV = F.log_softmax(logits_BTV.float(), dim=-1).cpu()
    out = []
    for b, (row, n) in enumerate(zip(rows, spans)):
        t = torch.arange(len(row) - 1 - n, len(row) - 1)  # positions whose targets are the continuation
        out.append(float(logp_BTV[b, t, ids_BT1[b, t + 1]].sum()))
    return out


def mc_metrics(logliks: list[list[float]], nbytes: list[list[int]], labels: list[int]) -> dict:
    """acc (highest log-likelihood) and acc_norm (highest log-likelihood per byte); ties go to the first."""
    acc = [int(np.argmax(ll)) == y for ll, y in zip(logliks, labels)]
    norm = [int(np.argmax(np.asarray(ll) / np.maximum(np.asarray(b), 1))) == y
            for ll, b, y in zip(logliks, nbytes, labels)]
    return {"acc": float(np.mean(acc)), "acc_norm": float(np.mean(norm)), "n": len(labels),
            "chance": float(np.mean([1 / len(ll) for ll in logliks])), "normalization": "per byte"}


def score(logits_fn, examples: list[Example], bos: int, seq_len: int, device: str = "cpu",
          dtype: str = "fp32") -> dict:
    logliks = [choice_logliks(logits_fn, ex, bos, seq_len, device, dtype) for ex in examples]
    return mc_metrics(logliks, [ex.choice_bytes for ex in examples], [ex.label for ex in examples])


def heldout_examples(val: np.ndarray, offsets: np.ndarray, token_bytes: np.ndarray, context_tokens: int,
                     continuation_tokens: int, n: int = 200, seed: int = 0, n_choices: int = 4) -> list[Example]:
    """The built-in task from held-out documents (token arrays of a store's validation split)."""
    need = context_tokens + continuation_tokens
    docs = [np.asarray(val[a:b - 1], dtype=np.int64) for a, b in zip(offsets[:-1], offsets[1:])]  # drop the EOT
    usable = [d for d in docs if len(d) >= need]
    if len(usable) < n_choices:
        raise SqueezeError(f"heldout task: only {len(usable)} held-out documents have {need} tokens "
                           f"({context_tokens} context + {continuation_tokens} continuation); need {n_choices}")
    rng = np.random.default_rng(seed)
    span = slice(context_tokens, need)
    out = []
    for i in rng.permutation(len(usable))[:n]:
        true = usable[i][span]
        others = [j for j in rng.permutation(len(usable)) if j != i and not np.array_equal(usable[j][span], true)]
        if len(others) < n_choices - 1:
            continue
        conts = [true] + [usable[j][span] for j in others[:n_choices - 1]]
        order = rng.permutation(n_choices)
        out.append(Example(usable[i][:context_tokens].tolist(), [conts[k].tolist() for k in order],
                           [int(token_bytes[conts[k]].sum()) for k in order], int(np.argmin(order))))
    return out


def heldout_lengths(seq_len: int) -> tuple[int, int]:
    """Context and continuation lengths that fit the window: half of it (at most 128) and a quarter (at most 32)."""
    return min(128, seq_len // 2), max(1, min(32, seq_len // 4))


def heldout_accuracy(model, store, seq_len: int, n: int = 200, seed: int = 0, device: str = "cpu",
                     dtype: str = "fp32") -> dict:
    """Accuracy on the built-in held-out continuation task of `store`, for the study's tables."""
    ctx, cont = heldout_lengths(seq_len)
    examples = heldout_examples(store.val, store.val_offsets, store.token_bytes, ctx, cont, n, seed)
    return {**score(model, examples, store.eot_id, seq_len, device, dtype), "task": HELDOUT,
            "context_tokens": ctx, "continuation_tokens": cont, "seed": seed}


def task_accuracy(run_dir: str, task: str, *, limit: int = 0, seed: int = 0, data: str | None = None) -> dict:
    """What `squeeze eval RUN_DIR --task PATH.jsonl|heldout [--task-limit N] [--task-seed S]` reports: the run's
    zero-shot accuracy on `task`, evaluated in the dtype the run trained in."""
    cfg, model, info = load_run(run_dir)
    if data:
        cfg.data.path = data
    _, store = bind_to_store(cfg)
    check_tokenizer(Path(run_dir), info, store)
    seq_len, dtype = cfg.model.seq_len, cfg.train.dtype
    if task == HELDOUT:
        return heldout_accuracy(model, store, seq_len, limit or 200, seed, dtype=dtype)
    rows = read_mc_jsonl(task)[:limit or None]
    encode = lambda text: store.tokenizer.encode(text, add_special_tokens=False).ids  # noqa: E731
    return {**score(model, examples_from_rows(rows, encode), store.eot_id, seq_len, dtype=dtype), "task": task}
