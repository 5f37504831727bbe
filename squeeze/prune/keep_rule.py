"""The easy-vs-hard rule that the study's selection step and `squeeze prune` follow (read by squeeze/prune/rule.py).

Written by benchmarks/pruning_frontier.py --write-rule from its finished run: per pool size, prototypes-easy minus
prototypes-hard (seed-mean loss, averaged over the kept fractions below 1) with its 90% interval over seeds, and the
direction to keep ("either" where the interval holds 0). Rerun that benchmark to change it, rather than editing it.
"""

RULE = {'measured': True,
 'source': 'benchmarks/pruning_frontier.py (prototypes-easy vs prototypes-hard, seed means, 90% intervals '
           'over seeds)',
 'default': 'easy',
 'reason': 'measured easy minus hard per pool size: easy at 100,000 and 400,000 tokens; either at 25,000 '
           'tokens (no measurable difference); the sign does not change over these pools',
 'pools': [{'pool': 25000, 'keep': 'either', 'diff': -0.00476, 'interval': [-0.01688, 0.00799]},
           {'pool': 100000, 'keep': 'easy', 'diff': -0.1133, 'interval': [-0.12313, -0.10267]},
           {'pool': 400000, 'keep': 'easy', 'diff': -0.24623, 'interval': [-0.25519, -0.23707]}]}
