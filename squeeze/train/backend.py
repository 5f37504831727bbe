"""What the executors of squeeze/runs run: the trainer's entry points in one `Trainer` object, handed to
`squeeze.runs.execute.execute(jobs, TRAINER, ...)` by whoever plans the runs (the study, `squeeze sweep`,
`squeeze ensemble`, perplexity pruning), so that squeeze/runs never imports the trainer it runs.
Exercised by tests/test_execute.py.
"""
from squeeze.runs.jobs import Trainer
from squeeze.train.batched import group_key, train_group
from squeeze.train.trainer import train

TRAINER = Trainer(train=train, train_group=train_group, group_key=group_key)
