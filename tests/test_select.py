"""squeeze/prune/select.py's pure selection rules against hand-computed masks (tests/test_prune.py has the k-means,
SemDeDup and pipeline tests on planted clusters): the token cut, the default seed and direction, balanced quotas
over three clusters, SemDeDup's threshold, the middle slice and the exact cut to a target."""
import numpy as np

from squeeze.prune import select


def kept(mask) -> list[int]:
    return np.flatnonzero(mask).tolist()


def test_take_until_stops_at_the_first_document_that_reaches_the_target():
    ntok = np.array([5, 0, 4, 3])  # document 1 is not a candidate
    order = np.array([1, 0, 2, 3])
    assert kept(select.take_until(order, ntok, 9)) == [0, 2]  # 5 + 4 reach 9 exactly: no third document
    assert kept(select.take_until(order, ntok, 9.5)) == [0, 2, 3]
    assert kept(select.take_until(order, ntok, 0.5)) == [0]  # any positive target takes a document
    assert kept(select.take_until(order, ntok, 0)) == []


def test_defaults_random_order_of_seed_zero_and_the_hardest_first():
    ntok = np.array([3, 1, 4, 1, 5, 9, 2, 6])
    perm = np.random.default_rng(0).permutation(8)
    want = select.take_until(perm, ntok, 0.5 * ntok.sum())
    assert kept(select.random_keep(ntok, 0.5)) == kept(want)
    score = np.array([0.1, 0.9, 0.5, 0.3, 0.8, 0.2, 0.7, 0.4])
    assert kept(select.prototype_keep(score, np.ones(8, int), 0.25)) == [1, 4]  # the two highest scores


def test_balanced_quotas_over_three_clusters():
    """Clusters of 2, 4 and 6 one-token documents, 6 tokens to keep: shares of 2 each, the hardest of each."""
    cluster = np.array([0, 1, 2, 0, 1, 2, 1, 2, 1, 2, 2, 2])
    score = np.arange(12, dtype=float)
    keep = select.prototype_keep(score, np.ones(12, int), 0.5, cluster_N=cluster, balance=True)
    assert kept(keep) == [0, 3, 6, 8, 10, 11]
    easy = select.prototype_keep(score, np.ones(12, int), 0.5, hard=False, cluster_N=cluster, balance=True)
    assert kept(easy) == [0, 1, 2, 3, 4, 5]
    none = select.prototype_keep(score, np.ones(12, int), 0.0, cluster_N=cluster, balance=True)
    assert kept(none) == []


def test_semdedup_keeps_a_document_exactly_at_the_threshold_and_works_per_cluster():
    x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    cluster = np.array([0, 0, 1, 0])
    # eps 1: dropped above cosine 0; documents 0 and 1 (cosine 0) both stay; 3 copies 1 in its cluster; 2 is alone
    assert kept(select.semdedup_keep(x, cluster, 1.0)) == [0, 1, 2]
    assert kept(select.semdedup_keep(x, cluster, 1.0, cand_N=np.array([True, False, True, True]))) == [0, 2, 3]


def test_the_middle_slice_is_by_token_mass():
    """Documents of 60, 10 and 30 tokens in score order: their mass midpoints sit at 30%, 65% and 85% of the
    stream, so 10 tokens from the middle are document 1's (document 0's last token is nearer, but not its centre)."""
    ntok = np.array([60, 10, 30])
    assert kept(select.slice_keep(np.array([1.0, 2.0, 3.0]), ntok, 0.1, "middle")) == [1]
    assert kept(select.slice_keep(np.array([1.0, 2.0, 3.0]), ntok, 0.1, "high")) == [2]


def test_fit_to_target_cuts_from_the_first_document_and_at_two_tokens():
    ntok = np.array([10, 4, 1, 6])
    keep, priority = np.array([True, True, True, False]), np.array([3.0, 2.0, 1.0, 0.0])
    out, cut = select.fit_to_target(keep, priority, ntok, 5)  # not even the first fits whole
    assert kept(out) == [] and cut == (0, 5)
    out, cut = select.fit_to_target(keep, priority, ntok, 16)  # 10 + 4 + 1 whole, then 1 token: too short
    assert kept(out) == [0, 1, 2] and cut is None
    out, cut = select.fit_to_target(keep, priority, ntok, 17)  # 2 tokens of document 3: the shortest cut kept
    assert kept(out) == [0, 1, 2] and cut == (3, 2)


def test_kmeans_of_one_cluster_and_its_default_seed():
    x = np.random.default_rng(0).normal(size=(30, 4))
    one = select.kmeans(x, 1, backend="torch")
    assert one.shape == (1, 4)
    np.testing.assert_allclose(one[0], select.normalize(select.normalize(x).mean(0, keepdims=True))[0], atol=1e-5)
    np.testing.assert_array_equal(select.kmeans(x, 3, backend="torch"), select.kmeans(x, 3, seed=0, backend="torch"))


def test_semdedup_over_three_clusters_and_quotas_of_a_one_token_cluster():
    x = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 1.0], [1.0, 1.0]])
    cluster = np.array([0, 0, 1, 1, 2, 0])
    assert kept(select.semdedup_keep(x, cluster, 0.1)) == [0, 2, 4, 5]  # one copy per cluster it has
    same = np.ones((3, 2))  # three copies in three clusters: duplicates only count inside a cluster
    assert kept(select.semdedup_keep(same, np.array([0, 1, 2]), 0.1)) == [0, 1, 2]
    assert select._balanced_quotas(np.array([1.0, 10.0]), 4).tolist() == [1.0, 3.0]  # all of 1, the rest to 10
    ones = select.prototype_keep(np.arange(4.0), np.ones(4, int), 0.5, cluster_N=np.array([0, 0, 1, 1]),
                                 balance=True)
    assert kept(ones) == [1, 3]
    half = select.prototype_keep(np.arange(4.0), np.ones(4, int), 0.25, cluster_N=np.array([0, 0, 1, 1]),
                                 balance=True)  # quotas of half a token each: one document from each cluster
    assert kept(half) == [1, 3]


def test_fit_to_target_beyond_every_candidate_keeps_them_all_uncut():
    out, cut = select.fit_to_target(np.array([True, False]), np.array([1.0, 0.0]), np.array([3, 4]), 20)
    assert kept(out) == [0, 1] and cut is None
