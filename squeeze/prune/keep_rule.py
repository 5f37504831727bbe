"""The easy-vs-hard rule that the study's selection step and `squeeze prune` follow (read by squeeze/prune/rule.py).

benchmarks/pruning_frontier.py --write-rule rewrites this file with what it measured: per pool size, easy minus hard
with its 90% interval over seeds. Until that benchmark has run, it holds the paper's regime rule, unmeasured here.
"""

RULE = {
    "measured": False,
    "source": "Sorscher et al. 2022 (Beyond neural scaling laws), not measured by squeeze",
    "default": "easy",
    "reason": ("the paper's regime rule: keep the easy (prototypical) examples when data is scarce, the hard ones "
               "when it is plentiful; squeeze's studies train many epochs on a small pool, the scarce regime. Not "
               "yet measured here: benchmarks/pruning_frontier.py measures it and rewrites this rule"),
    "pools": [],
}
