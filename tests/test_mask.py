"""squeeze/data/mask.py's fitness slice: whole training documents of the budget, drawn in a fixed seeded order,
held out of training and counted in the budget."""
import numpy as np
import pytest

from squeeze.data.mask import budget_doc_tokens, fitness_documents, fitness_slice
from squeeze.data.store import TokenStore
from squeeze.errors import SqueezeError
from squeeze.train.setup import make_setup
from tests.conftest import tiny_config


def test_fitness_documents_by_hand():
    """Documents of 5, 5, 5 tokens inside the budget and a fourth the budget cuts (3 of its 10): a slice of 6 tokens
    takes two whole documents (10 tokens), never the cut one; the draw is fixed by its seed."""
    ntok, length = np.array([5, 5, 5, 3]), np.array([5, 5, 5, 10])
    held = fitness_documents(ntok, length, 6)
    assert held.sum() == 2 and not held[3] and ntok[held].sum() == 10
    assert (fitness_documents(ntok, length, 6) == held).all()  # the same slice for every member
    assert fitness_documents(ntok, length, 1).sum() == 1
    with pytest.raises(SqueezeError, match="fitness_tokens=16 needs that many tokens in whole documents"):
        fitness_documents(ntok, length, 16)  # only 15 tokens lie in whole documents
    with pytest.raises(SqueezeError, match="must leave tokens to train on"):
        fitness_documents(np.array([5, 5]), np.array([5, 5]), 6)  # both documents, nothing left


def test_the_slice_is_held_out_of_training_and_counted_in_the_budget(tiny_store):
    """A run of budget D with a fitness slice trains on D minus the slice's tokens, the slice is whole training
    documents of the budget (validation is a separate array the slice never indexes), and without a slice the
    same run trains on all D."""
    store = TokenStore.open(tiny_store)
    budget = 8000
    c = tiny_config(tiny_store)
    c.data.budget_tokens, c.data.fitness_tokens = budget, 1500
    held = fitness_slice(store, budget, 1500)
    inside = budget_doc_tokens(store, budget)
    length = np.diff(np.asarray(store.train_offsets))
    assert (inside[held] == length[held]).all() and inside[held].sum() >= 1500  # whole documents of the budget
    assert held.shape == (store.meta["n_train_docs"],)  # one flag per training document: validation has none
    with_slice = make_setup(c)
    c.data.fitness_tokens = 0
    without = make_setup(c)
    assert len(without.loader.tokens) == budget
    assert len(with_slice.loader.tokens) == budget - inside[held].sum()
