"""An ensemble of trained members: mixture, product and learned-weight combinations, and the K = 1..K curve, all
from ONE pass over the validation windows of squeeze/evaluation/loss.py (so the numbers compare with a run's val_loss).

- mixture (default): log of the mean of member probabilities, -log((1/K) Σ_k p_k(y)).
- product: the mean of member log-probabilities renormalized over the vocabulary (a geometric mean).
- learned: mixture weights w = softmax(θ) fitted on the fitness slice, whole training documents of the members'
  budget, drawn in a fixed seeded order until they hold `data.fitness_tokens` tokens, never trained on and never
  validation data.
- K curve: the loss of the first k members for k = 1..K, in the order given and averaged over random orders, and
  its fit L(K) = A/K^B + C (C = the K -> inf asymptote), bootstrapped over the orders.

Memory stays independent of the number of validation tokens: each batch adds into per-(order, k) sums and is
dropped. Run with `squeeze eval RUN_DIR RUN_DIR ...`; exercised by tests/test_ensemble.py.
The snapshots of one run (`snapshotNNN.safetensors`, train.lr_cycles) are members too: `snapshot_members` builds
them from the run's one config and its weight files, `snapshot_eval` is `squeeze eval RUN_DIR --snapshots
[--top-k K]` (tests/test_snapshots.py).
"""
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from squeeze import config as config_mod
from squeeze.config import Config
from squeeze.data.mask import fitness_slice
from squeeze.device.precision import autocast, resolve_dtype
from squeeze.errors import SqueezeError
from squeeze.evaluation.loss import computed_on, eval_span, eval_windows, span_digest
from squeeze.io import read_json
from squeeze.model import GPT
from squeeze.runs.files import CONFIG, RUN, snapshot_cycle
from squeeze.scaling.fit import fit_with_uncertainty
from squeeze.train.checkpoint import check_tokenizer, load_run, load_weights, read_token_losses
from squeeze.train.optim import cycle_bounds
from squeeze.train.regularize import repeats_at
from squeeze.train.setup import bind_to_store, make_setup


@dataclass
class Member:
    run_dir: str
    cfg: Config
    model: GPT
    val_loss: float | None  # from summary.json, when finished


def load_members(run_dirs: list[str], device: str = "cpu", data: str | None = None) -> tuple[list[Member], object]:
    """Load every member and the token store they share; refuse members from different tokenizers or vocabularies."""
    if not run_dirs:
        raise SqueezeError("an ensemble needs at least one run directory")
    members, prints, infos = [], set(), []
    for d in run_dirs:
        cfg, model, info = load_run(d, device)
        infos.append(info)
        summary = Path(d) / "summary.json"
        members.append(Member(str(d), cfg, model, read_json(summary).get("val_loss") if summary.exists() else None))
        prints.add(info.get("tokenizer_fingerprint"))
    if len(prints - {None}) > 1:
        raise SqueezeError(f"{run_dirs[0]} and others: members come from different tokenizers (run.json "
                           "tokenizer_fingerprint differs); an ensemble needs one vocabulary")
    first = members[0].cfg
    for m in members[1:]:
        if m.cfg.model.vocab_size != first.model.vocab_size or m.cfg.model.seq_len != first.model.seq_len:
            raise SqueezeError(f"{m.run_dir}: vocabulary {m.cfg.model.vocab_size} / context {m.cfg.model.seq_len} "
                               f"differ from {members[0].run_dir}'s {first.model.vocab_size} / {first.model.seq_len}")
    cfg = first.copy()
    if data:
        cfg.data.path = data
    _, store = bind_to_store(cfg)
    for d, info in zip(run_dirs, infos):
        check_tokenizer(Path(d), info, store)
    return members, store


# ---- pure combinations -------------------------------------------------------------------------------------------

def mixture_nll(tgt_logp_KN: torch.Tensor, weights_K: torch.Tensor | None = None) -> torch.Tensor:
    """Per-token -log Σ_k w_k p_k(y) from the members' target log-probs (uniform weights by default)."""
    K = tgt_logp_KN.shape[0]
    logw_K = torch.full((K,), -math.log(K), dtype=tgt_logp_KN.dtype) if weights_K is None else weights_K.log()
    return -torch.logsumexp(tgt_logp_KN + logw_K[:, None].to(tgt_logp_KN), 0)


def product_logp(logp_KNV: torch.Tensor) -> torch.Tensor:
    """The product of experts: mean member log-probs, renormalized over the vocabulary ([N, V])."""
    mean_NV = logp_KNV.mean(0)
    return mean_NV - torch.logsumexp(mean_NV, -1, keepdim=True)


def fit_mixture_weights(tgt_logp_KN: torch.Tensor, steps: int = 300, lr: float = 0.1) -> torch.Tensor:
    """Mixture weights w = softmax(θ) minimizing the mean -log Σ_k w_k p_k(y) on these tokens (Adam from uniform).
    The objective is convex in w; the best iterate is returned, so it is never worse than uniform on these tokens."""
    tgt = tgt_logp_KN.detach().double()
    K = tgt.shape[0]
    theta_K = torch.zeros(K, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([theta_K], lr=lr)
    best_w, best = torch.full((K,), 1.0 / K, dtype=torch.float64), float(mixture_nll(tgt).mean())
    for _ in range(steps):
        opt.zero_grad()
        loss = -torch.logsumexp(tgt + theta_K.log_softmax(0)[:, None], 0).mean()
        loss.backward()
        opt.step()
        with torch.no_grad():
            w = theta_K.softmax(0)
            value = float(mixture_nll(tgt, w).mean())
            if value < best:
                best, best_w = value, w.clone()
    return best_w.float()


def orders_for(K: int, n_random: int, seed: int = 0) -> list[list[int]]:
    """The order given (0..K-1) followed by n_random random permutations (fixed seed)."""
    rng = np.random.default_rng(seed)
    return [list(range(K))] + [rng.permutation(K).tolist() for _ in range(n_random if K > 1 else 0)]


# ---- the one pass ------------------------------------------------------------------------------------------------

def _member_logp(members: list[Member], x_BT: torch.Tensor, device: str, dtype) -> torch.Tensor:
    with torch.inference_mode(), autocast(device, dtype):
        return torch.stack([m.model(x_BT.to(device)).float().log_softmax(-1).flatten(0, 1).cpu() for m in members])


def fitness_tokens(members: list[Member], store) -> np.ndarray | None:
    """The tokens of the fitness slice the members held out of training (squeeze.data.mask.fitness_slice: whole
    training documents of their budget, the same for every member), in store order; None without one."""
    keys = {(m.cfg.data.budget_tokens, m.cfg.data.fitness_tokens) for m in members}
    if len(keys) != 1 or next(iter(keys))[1] == 0:
        return None
    budget, n = next(iter(keys))
    starts = np.asarray(store.train_offsets, dtype=np.int64)
    docs = np.flatnonzero(fitness_slice(store, budget, n))
    return np.concatenate([np.asarray(store.train[starts[d]:starts[d + 1]]) for d in docs])


def fitness_logp(members: list[Member], store, batch_size: int, device: str = "cpu",
                 dtype: str = "auto") -> torch.Tensor | None:
    """Each member's log-probability of every fitness-slice target, [K, N]; None without a fitness slice."""
    tokens = fitness_tokens(members, store)
    if tokens is None:
        return None
    dt = resolve_dtype(dtype, device)
    parts = []
    for x_BT, y_BT in eval_windows(tokens, members[0].cfg.model.seq_len, batch_size):
        logp_KNV = _member_logp(members, x_BT, device, dt)
        parts.append(logp_KNV.gather(-1, y_BT.flatten()[None, :, None].expand(len(members), -1, 1))[..., 0])
    return torch.cat(parts, 1)


def learned_weights(members: list[Member], store, batch_size: int, device: str = "cpu",
                    dtype: str = "auto") -> dict | None:
    """Fit mixture weights on the fitness slice; None when the members reserved none (data.fitness_tokens=0)."""
    tgt_KN = fitness_logp(members, store, batch_size, device, dtype)
    return None if tgt_KN is None else weights_report(tgt_KN)


def weights_report(tgt_KN: torch.Tensor) -> dict:
    """Mixture weights fitted on the fitness targets' log-probs [K, N], and the fitness loss before and after."""
    w_K = fit_mixture_weights(tgt_KN)
    return {"weights": w_K.tolist(), "fitness_tokens": int(tgt_KN.shape[1]),
            "fitness_loss_uniform": float(mixture_nll(tgt_KN).mean()),
            "fitness_loss_learned": float(mixture_nll(tgt_KN, w_K).mean())}


def top_k_report(tgt_KN: torch.Tensor) -> dict:
    """The NanoGPT Slowrun record's snapshot weighting, fitted on the fitness slice only: for k = 1..K keep the k
    members with the largest learned weights, fit their weights again, and keep the k whose weighted mixture has
    the lowest fitness loss (the smaller k on a tie). `weights` spans all K members, 0 for those left out."""
    w_K = fit_mixture_weights(tgt_KN)
    order = torch.argsort(w_K, descending=True, stable=True)
    best = None
    for k in range(1, len(w_K) + 1):
        keep = order[:k].sort().values
        w_k = fit_mixture_weights(tgt_KN[keep])
        loss = float(mixture_nll(tgt_KN[keep], w_k).mean())
        if best is None or loss < best[0] - 1e-12:
            best = (loss, keep, w_k)
    full = torch.zeros(len(w_K), dtype=best[2].dtype)
    full[best[1]] = best[2]
    return {"weights": full.tolist(), "top_k": len(best[1]), "fitness_tokens": int(tgt_KN.shape[1]),
            "fitness_loss_uniform": float(mixture_nll(tgt_KN).mean()), "fitness_loss_learned": best[0]}


def evaluate_ensemble(members: list[Member], store, *, n_orders: int = 5, weights_K: torch.Tensor | None = None,
                      batch_size: int = 16, device: str = "cpu", dtype: str = "auto", max_tokens: int = 0,
                      product: bool = True, product_orders: bool = True,
                      saved: list[torch.Tensor | None] | None = None) -> dict:
    """One pass over the validation windows: per-member, mixture, product, learned-weight losses and K curves.
    product_orders False: the product's K curve in the given order only (no `product_curve_mean`): a product
    curve costs a cumulative sum and a logsumexp over the whole vocabulary per order, most of the pass's time
    (14.1 s with and 4.6 s without the random orders' for 4 x 2x64 members, 65,536 tokens, 3 random orders, on
    a 2-core CPU). `saved`: per member, its per-token losses on these windows (read_saved), or None; without the
    product, a member that has them is not run (the mixture needs each member's probability of the target only)."""
    K, seq_len, dt = len(members), members[0].cfg.model.seq_len, resolve_dtype(dtype, device)
    saved = [None] * K if saved is None or product else saved
    run = [i for i in range(K) if saved[i] is None]  # the members whose forward pass this evaluation needs
    orders = orders_for(K, n_orders)
    mix_OK = torch.zeros(len(orders), K, dtype=torch.float64)
    prod_OK = torch.zeros(len(orders), K, dtype=torch.float64)
    member_K = torch.zeros(K, dtype=torch.float64)
    learned, count, nbytes = 0.0, 0, 0
    bytes_V = torch.as_tensor(np.asarray(store.token_bytes, dtype=np.int64))
    ks = torch.arange(1, K + 1, dtype=torch.float32)
    at = 0
    for x_BT, y_BT in eval_windows(store.val, seq_len, batch_size, max_tokens):
        y_N = y_BT.flatten()
        rows = {i: -saved[i][at:at + len(y_N)] for i in range(K) if saved[i] is not None}
        at += len(y_N)
        if run:
            logp_KNV = _member_logp([members[i] for i in run], x_BT, device, dt)
            rows.update(zip(run, logp_KNV.gather(-1, y_N[None, :, None].expand(len(run), -1, 1))[..., 0]))
        tgt_KN = torch.stack([rows[i] for i in range(K)])
        member_K -= tgt_KN.double().sum(1)
        for o, order in enumerate(orders):
            # prefix mixtures: logcumsumexp over the ordered members gives log Σ_{j<k} p_j(y) for every k at once
            cum_KN = torch.logcumsumexp(tgt_KN[order], 0) - ks.log()[:, None]
            mix_OK[o] -= cum_KN.double().sum(1)
            if product and (o == 0 or product_orders):
                mean_KNV = logp_KNV[order].cumsum(0) / ks[:, None, None]
                prod_KN = mean_KNV.gather(-1, y_N[None, :, None].expand(K, -1, 1))[..., 0] \
                    - torch.logsumexp(mean_KNV, -1)
                prod_OK[o] -= prod_KN.double().sum(1)
        if weights_K is not None:
            learned += float(mixture_nll(tgt_KN, weights_K).double().sum())
        count += y_N.numel()
        nbytes += int(bytes_V[y_N].sum())
    if count == 0:
        raise SqueezeError("no validation tokens to evaluate")
    prod_OK = prod_OK if product_orders else prod_OK[:1]
    out = _report(members, orders, mix_OK / count, prod_OK / count if product else None, member_K / count,
                  learned / count if weights_K is not None else None, count, nbytes)
    return {**out, "members_run": len(run)}


def read_saved(members: list[Member], store, max_tokens: int, device: str, dtype: str) -> list[torch.Tensor | None]:
    """Each member's saved per-token losses (token_losses.safetensors) when they were scored on exactly the
    windows an evaluation of `max_tokens` reads, with the weights it holds, on this device type and dtype; None for
    the others."""
    span, how = span_digest(store.val, max_tokens), computed_on(device, dtype)
    n = eval_span(store.val, max_tokens) - 1
    out = []
    for m in members:
        nll_N = read_token_losses(m.run_dir, span, how) if Path(m.run_dir).is_dir() else None
        out.append(nll_N if nll_N is not None and len(nll_N) == n else None)
    return out


def _report(members, orders, mix_OK, prod_OK, member_K, learned, count, nbytes) -> dict:
    nats_per_bpb = count / (math.log(2) * nbytes)
    out = {"members": [m.run_dir for m in members], "member_losses": member_K.tolist(),
           "mean_member_loss": float(member_K.mean()), "tokens": count, "bytes": nbytes,
           "mixture": float(mix_OK[0, -1]), "mixture_bpb": float(mix_OK[0, -1]) * nats_per_bpb,
           "orders": orders, "mixture_curve_given": mix_OK[0].tolist(),
           "mixture_curve_mean": mix_OK[1:].mean(0).tolist() if len(orders) > 1 else mix_OK[0].tolist(),
           "params": sum(m.model.param_counts()["total"] for m in members)}
    if prod_OK is not None:
        out.update(product=float(prod_OK[0, -1]), product_curve_given=prod_OK[0].tolist())
        if len(prod_OK) == len(orders):  # the random orders' curves too (not skipped: product_orders)
            out["product_curve_mean"] = prod_OK[1:].mean(0).tolist() if len(orders) > 1 else prod_OK[0].tolist()
    if learned is not None:
        out["learned"] = learned
    out["asymptote"] = k_asymptote(mix_OK[1:] if len(orders) > 1 else mix_OK[:1])
    return out


def k_asymptote(curves_OK: torch.Tensor) -> dict | None:
    """Fit L(K) = A/K^B + C to the per-order K curves (x = k repeated per order, so the bootstrap resamples
    orders within each k); None with fewer than 3 sizes."""
    O, K = curves_OK.shape
    if K < 3:
        return None
    x = np.tile(np.arange(1, K + 1, dtype=float), O)
    y = curves_OK.numpy().reshape(-1)
    try:
        f = fit_with_uncertainty(x, y, n_boot=100)
    except ValueError as e:
        return {"error": str(e)}
    return {"A": f.fit.A, "B": f.fit.B, "C": f.fit.C, "C_interval": list(f.C), "degenerate": f.fit.degenerate,
            "reason": f.fit.reason, "level": f.level}


def ensemble_eval(run_dirs: list[str], *, data: str | None = None, n_orders: int = 5, device: str = "cpu",
                  max_tokens: int | None = None, product: bool = True, product_orders: bool = True) -> dict:
    """Load, fit learned weights on the fitness slice (when reserved), and evaluate: what `squeeze eval` prints.
    max_tokens None: the validation tokens the members' own final evaluation read (train.final_eval_tokens), so
    the ensemble's loss and its members' val_loss are on the same tokens; 0: all of them. product, product_orders:
    see evaluate_ensemble."""
    members, store = load_members(run_dirs, device, data)
    c = members[0].cfg.train
    if max_tokens is None:
        caps = {m.cfg.train.final_eval_tokens for m in members}
        if len(caps) > 1:
            raise SqueezeError(f"members were evaluated on different validation slices (train.final_eval_tokens "
                               f"{sorted(caps)}): {', '.join(run_dirs)}")
        max_tokens = caps.pop()
    lw = learned_weights(members, store, c.batch_size, device, c.dtype)
    out = evaluate_ensemble(members, store, n_orders=n_orders, batch_size=c.batch_size, device=device,
                            dtype=c.dtype, max_tokens=max_tokens, product=product, product_orders=product_orders,
                            weights_K=None if lw is None else torch.tensor(lw["weights"]),
                            saved=None if product else read_saved(members, store, max_tokens, device, c.dtype))
    out["learned_weights"] = lw
    return out


def format_table(r: dict) -> str:
    """The text table of `squeeze eval RUN_DIR RUN_DIR ...`."""
    K = len(r["members"])
    lines = [f"ensemble of {K} members, {r['params']:,} parameters, {r['tokens']:,} validation tokens",
             f"  mean member loss {r['mean_member_loss']:.4f}; members: "
             + ", ".join(f"{v:.4f}" for v in r["member_losses"]),
             f"  mixture (mean of probabilities)  {r['mixture']:.4f} nats/token, {r['mixture_bpb']:.4f} bits/byte"]
    if "product" in r:
        lines.append(f"  product (mean of log-probs)      {r['product']:.4f}")
    lw = r.get("learned_weights")
    if lw:
        lines.append(f"  learned weights                  {r['learned']:.4f}  (fitted on {lw['fitness_tokens']:,} "
                     f"fitness tokens: {lw['fitness_loss_uniform']:.4f} uniform -> {lw['fitness_loss_learned']:.4f}; "
                     "w = " + ", ".join(f"{w:.3f}" for w in lw["weights"]) + ")")
    else:
        lines.append("  learned weights                  n/a (members reserved no fitness slice: "
                     "data.fitness_tokens=0)")
    lines.append(f"  K curve ({len(r['orders']) - 1} random orders)   K  mixture(given)  mixture(mean)"
                 + ("  product(given)  product(mean)" if "product" in r else ""))
    for k in range(K):
        row = f"  {'':31} {k + 1:2d}  {r['mixture_curve_given'][k]:14.4f}  {r['mixture_curve_mean'][k]:13.4f}"
        if "product" in r:
            row += f"  {r['product_curve_given'][k]:14.4f}  {r['product_curve_mean'][k]:13.4f}"
        lines.append(row)
    a = r.get("asymptote")
    if a and "C" in a:
        lines.append(f"  fit L(K) = {a['A']:.4f}/K^{a['B']:.3f} + {a['C']:.4f}; K->inf asymptote C = {a['C']:.4f} "
                     f"[{a['C_interval'][0]:.4f}, {a['C_interval'][1]:.4f}] ({a['level']:.0%} over orders)"
                     + (f"; degenerate: {a['reason']}" if a["degenerate"] else ""))
    else:
        lines.append("  asymptote: needs K >= 3" if a is None else f"  asymptote: fit failed ({a['error']})")
    return "\n".join(lines)


# ---- the snapshots of one run ------------------------------------------------------------------------------------

def snapshot_members(run_dir: str | Path, device: str = "cpu", data: str | None = None) -> tuple[list[Member], object]:
    """One member per `snapshotNNN.safetensors` of a run, in cycle order, all built from the run's one config;
    and the token store (the run's own, or `data`), checked against the run's tokenizer."""
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG).exists():
        raise SqueezeError(f"{run_dir}: not a run directory (no {CONFIG})")
    cfg = config_mod.load(str(run_dir / CONFIG))
    files = sorted((p for p in run_dir.glob("snapshot*.safetensors") if snapshot_cycle(p.name) is not None),
                   key=lambda p: snapshot_cycle(p.name))
    if not files:
        raise SqueezeError(f"{run_dir}: no snapshotNNN.safetensors (they are written by runs with "
                           "--train.lr_cycles=N, N > 1, at each cycle end)")
    repeats = _snapshot_repeats(cfg, [snapshot_cycle(p.name) for p in files])
    members = []
    for p, r in zip(files, repeats):
        model = GPT(cfg.model).to(device)
        load_weights(model, p)
        model.repeats = r
        members.append(Member(str(p), cfg, model.eval(), None))
    store_cfg = cfg.copy()
    if data:
        store_cfg.data.path = data
    _, store = bind_to_store(store_cfg)
    check_tokenizer(run_dir, read_json(run_dir / RUN) if (run_dir / RUN).exists() else {}, store)
    return members, store


def _snapshot_repeats(cfg: Config, cycles: list[int]) -> list[int]:
    """The looped block's repeats each snapshot trained with: train.loop_from may switch the loop on mid-run."""
    if not cfg.model.loop_repeats or not cfg.train.loop_from:
        return [cfg.model.loop_repeats] * len(cycles)
    total = make_setup(cfg).total_steps  # the run's own store and budget fix its steps
    bounds = cycle_bounds(total, cfg.train.lr_cycles)
    return [repeats_at(bounds[c] - 1, total, cfg.model, cfg.train) for c in cycles]


def snapshot_eval(run_dir: str | Path, *, top_k: int = 0, data: str | None = None, n_orders: int = 5,
                  device: str = "cpu", max_tokens: int | None = None, fit_top_k: bool = False) -> dict:
    """A run's snapshots as an ensemble in one pass (what `squeeze eval RUN_DIR --snapshots` prints). `top_k` > 0
    keeps the K snapshots with the largest mixture weights learned on the fitness slice, or, when the run reserved
    none, the K with the lowest validation loss (chosen on the tokens they are then scored on, so optimistic; the
    result says which). `fit_top_k`: every snapshot stays in the uniform mixture, and the learned one keeps the
    top-k that the fitness slice chooses (`top_k_report`). max_tokens None: the validation tokens of the run's own
    final evaluation."""
    members, store = snapshot_members(run_dir, device, data)
    c = members[0].cfg.train
    max_tokens = c.final_eval_tokens if max_tokens is None else max_tokens
    tgt_KN = fitness_logp(members, store, c.batch_size, device, c.dtype)
    selection = None
    if 0 < top_k < len(members):
        if tgt_KN is not None:
            w_K = fit_mixture_weights(tgt_KN)
            keep, by = w_K.topk(top_k).indices.sort().values.tolist(), "learned weight on the fitness slice"
            scores = w_K.tolist()
        else:
            first = evaluate_ensemble(members, store, n_orders=0, batch_size=c.batch_size, device=device,
                                      dtype=c.dtype, max_tokens=max_tokens, product=False)
            scores = first["member_losses"]
            keep = sorted(sorted(range(len(members)), key=lambda i: scores[i])[:top_k])
            by = "validation loss (no fitness slice; chosen on the tokens it is scored on, so optimistic)"
        selection = {"top_k": top_k, "by": by, "scores": scores, "kept": [Path(members[i].run_dir).name
                                                                          for i in keep]}
        members = [members[i] for i in keep]
        tgt_KN = None if tgt_KN is None else tgt_KN[keep]
    lw = None if tgt_KN is None else top_k_report(tgt_KN) if fit_top_k else weights_report(tgt_KN)
    out = evaluate_ensemble(members, store, n_orders=n_orders, batch_size=c.batch_size, device=device,
                            dtype=c.dtype, max_tokens=max_tokens,
                            weights_K=None if lw is None else torch.tensor(lw["weights"]))
    out.update(run_dir=str(run_dir), snapshots=[Path(m.run_dir).name for m in members], learned_weights=lw,
               selection=selection, lr_cycles=c.lr_cycles)
    return out
