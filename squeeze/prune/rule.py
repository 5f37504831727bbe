"""Which documents prototype pruning keeps, easy or hard, at a given pool size: the rule of squeeze/prune/keep_rule.py
(measured by benchmarks/pruning_frontier.py --write-rule; a rule without measured pools falls back to its default), with
the reason.

The study's selection step (squeeze/study/steps/selection.py) keeps what this says for its pool and records it in
study.json; `squeeze prune --method prototypes` uses it when neither --keep-easy nor --keep-hard is given.
Exercised by tests/test_rule.py and tests/test_prune.py.
"""
import math
from dataclasses import dataclass

from squeeze.prune.keep_rule import RULE


@dataclass(frozen=True)
class KeepRule:
    hard: bool  # keep the documents far from their centroid (hard) rather than near it (easy)
    pool_tokens: int  # the candidate tokens the rule was asked about
    measured: bool  # False: the paper's rule, not measured by squeeze
    source: str
    reason: str

    @property
    def keep(self) -> str:
        return "hard" if self.hard else "easy"

    def as_dict(self) -> dict:
        return {"keep": self.keep, "pool_tokens": self.pool_tokens, "measured": self.measured,
                "source": self.source, "reason": self.reason}


def keep_direction(pool_tokens: int, rule: dict | None = None) -> KeepRule:
    """Easy or hard for a pool of `pool_tokens` candidate tokens. With measured pools: the one nearest in log size
    (its direction beyond noise, or its point estimate's sign when the interval holds 0, and the reason says so);
    without: the rule's default."""
    rule = RULE if rule is None else rule
    pools = rule.get("pools") or []
    if not pools or pool_tokens <= 0:
        return KeepRule(rule["default"] == "hard", pool_tokens, bool(rule["measured"]), rule["source"],
                        rule["reason"])
    row = min(pools, key=lambda p: abs(math.log(p["pool"]) - math.log(pool_tokens)))
    hard = row["keep"] == "hard" or (row["keep"] == "either" and row["diff"] > 0)
    interval = ("no interval (a one-seed cell)" if row["interval"] is None else
                "[{:+.4f}, {:+.4f}] (90% over seeds)".format(*row["interval"]))
    what = (f"measured at the pool of {row['pool']:,} tokens (nearest to {pool_tokens:,}): easy minus hard "
            f"{row['diff']:+.4f} nats {interval}")
    if row["keep"] == "either":
        what += f", within noise: {'hard' if hard else 'easy'} by the point estimate only"
    lo_pool, hi_pool = min(p["pool"] for p in pools), max(p["pool"] for p in pools)
    if not lo_pool <= pool_tokens <= hi_pool:
        what += f"; outside the measured pools ({lo_pool:,}-{hi_pool:,} tokens)"
    return KeepRule(hard, pool_tokens, True, rule["source"], what)
