import math

import numpy as np
import pytest
import torch

from squeeze.evaluation.loss import bits_per_byte, eval_windows, evaluate


@pytest.mark.parametrize("n, seq_len, cap", [(50, 8, 0), (49, 8, 0), (17, 8, 0), (50, 8, 20), (9, 8, 0)])
def test_windows_predict_every_token_but_the_first_once(n, seq_len, cap):
    tokens = np.arange(n)
    targets = np.concatenate([y.flatten().numpy() for _, y in eval_windows(tokens, seq_len, 3, cap)])
    expected = np.arange(1, n if not cap else cap + 1)
    assert np.array_equal(np.sort(targets), expected)
    for x, y in eval_windows(tokens, seq_len, 3, cap):
        assert torch.equal(y, x + 1)  # y is x shifted by one position


def test_uniform_model_loss_and_bits_per_byte_by_hand():
    V = 7
    tokens = np.array([0, 3, 1, 6, 2, 2, 5, 4, 1, 0, 3])
    token_bytes = np.array([0, 1, 2, 3, 1, 1, 2])
    uniform = lambda x: torch.zeros(*x.shape, V)
    out = evaluate(uniform, tokens, token_bytes, seq_len=4, batch_size=2, dtype="fp32")
    n = len(tokens) - 1
    nbytes = 3 + 1 + 2 + 2 + 2 + 1 + 1 + 1 + 0 + 3  # bytes of targets 3,1,6,2,2,5,4,1,0,3 from the table
    assert out["tokens"] == n and out["bytes"] == nbytes
    assert out["loss"] == pytest.approx(math.log(V))
    assert out["bpb"] == pytest.approx(n * math.log(V) / (math.log(2) * nbytes))
    assert bits_per_byte(math.log(2) * 10, 5) == pytest.approx(2.0)
