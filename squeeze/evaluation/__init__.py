"""Scoring trained models: validation loss and bits per byte (loss.py), ensembles and snapshot ensembles in one
pass (ensemble.py), zero-shot multiple-choice tasks (tasks.py)."""
