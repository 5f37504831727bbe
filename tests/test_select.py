"""squeeze/prune/select.py's pure selection rules against hand-computed masks (tests/test_prune.py has the k-means,
SemDeDup and pipeline tests on planted clusters): the token cut, the default seed and direction, balanced quotas
over three clusters, SemDeDup's threshold, the middle slice and the exact cut to a target; and the k-means details
tools/mutate.py asked for: k-means++ seed frequencies, the empty-cluster restart, the default 25 steps, faiss's
spherical mode over every point, the 1e-12 clamps, assign()'s blocks and the eps bisection to its exact eps."""
import numpy as np
import pytest

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


def test_normalize_scales_any_nonzero_row_to_unit_length_and_leaves_a_zero_row():
    """The clamp guards zero rows only: a row of norm 1.5e-12 (over the 1e-12 floor) still comes out unit."""
    out = select.normalize(np.array([[1.5e-12, 0.0], [0.0, 0.0], [3.0, 4.0]]))
    np.testing.assert_array_equal(out, np.array([[1.0, 0.0], [0.0, 0.0], [0.6, 0.8]], dtype=np.float32))


def test_assign_over_more_than_one_block_of_8192_rows():
    rng = np.random.default_rng(0)
    x, c = select.normalize(rng.normal(size=(8200, 3))), select.normalize(rng.normal(size=(4, 3)))
    best, cos = select.assign(x, c)
    sim = x.astype(np.float64) @ c.T.astype(np.float64)  # nearest and second differ by >= 8.5e-6 here
    np.testing.assert_array_equal(best, sim.argmax(1))
    np.testing.assert_allclose(cos, sim.max(1), atol=1e-6)


def test_take_until_counts_a_target_within_1e9_of_a_sum_as_reached():
    ntok, order = np.array([5, 4, 3]), np.arange(3)
    assert kept(select.take_until(order, ntok, 0.1 * 3 * 30)) == [0, 1]  # 9.000000000000002: float noise
    assert kept(select.take_until(order, ntok, 9 + 0.5e-9)) == [0, 1]
    assert kept(select.take_until(order, ntok, 9 + 1.5e-9)) == [0, 1, 2]  # beyond 1e-9: one more document


def test_kmeans_plus_plus_seeds_uniformly_then_by_squared_cosine_distance():
    """Points at 0, 30 and 60 degrees; iters=0 returns the seeds. The first seed is uniform over the 3 points.
    From an end point the cosine distances are 1 - cos 30 = 0.134 (middle) and 1 - cos 60 = 0.5 (other end), so
    the second seed is the other end with probability 0.5^2 / (0.134^2 + 0.5^2) = 0.933 (0.789 with plain
    distances, 0.981 with cubes); from the middle each end with 1/2. 1500 seeds: SE 0.008 and 0.022."""
    ang = np.radians([0.0, 30.0, 60.0])
    x = np.stack([np.cos(ang), np.sin(ang)], 1)
    picks = np.array([(x @ select.kmeans(x, 2, seed=s, iters=0, backend="torch").T).argmax(0)
                      for s in range(1500)])  # [seed, (first, second)] as point indices
    first, second = picks[:, 0], picks[:, 1]
    assert np.abs(np.bincount(first, minlength=3) / 1500 - 1 / 3).max() < 0.04
    d_mid, d_far = 1 - np.cos(np.radians(30)), 0.5
    end = first != 1
    assert np.mean(second[end] == 2 - first[end]) == pytest.approx(d_far ** 2 / (d_mid ** 2 + d_far ** 2), abs=0.025)
    assert np.mean(second[~end] == 0) == pytest.approx(0.5, abs=0.07)


def test_kmeans_with_fewer_distinct_points_than_clusters_restarts_the_empty_ones_on_points():
    """Two directions, three clusters: k-means++ runs out of distance (every point sits on a seed) and draws the
    third seed uniformly, a copy; the copy's cluster empties and restarts on a point. No centroid is zero, each is
    one of the points, and both directions have one."""
    a, b = [1.0, 0.0], [0.0, 1.0]
    for x in (np.array([a, b, b]), np.array([b, b, a])):
        for seed in range(4):
            c = select.kmeans(x, 3, seed=seed, backend="torch")
            assert np.array_equal(np.sort((c @ x.T).max(1)), [1.0, 1.0, 1.0]), (x, seed, c)
            assert np.array_equal((x @ c.T).max(1), [1.0, 1.0, 1.0])


def test_kmeans_centroid_of_nearly_opposite_points_is_unit():
    """k = 1 over (1, 0) and (-1, 1.5e-12): their sum (0, 1.5e-12) is tiny but not zero, so the centroid is (0, 1)."""
    c = select.kmeans(np.array([[1.0, 0.0], [-1.0, 1.5e-12]]), 1, backend="torch")
    np.testing.assert_array_equal(c, [[0.0, 1.0]])


def test_kmeans_default_is_25_lloyd_steps():
    """400 Gaussian points in 3D, k = 8, seed 1: Lloyd needs 41 steps to its fixed point; the default stops at 25."""
    x = np.random.default_rng(2).normal(size=(400, 3))
    c = select.kmeans(x, 8, seed=1, backend="torch")
    assert np.array_equal(c, select.kmeans(x, 8, seed=1, iters=25, backend="torch"))
    assert not np.array_equal(c, select.kmeans(x, 8, seed=1, iters=26, backend="torch"))
    fixed = select.kmeans(x, 8, seed=1, iters=41, backend="torch")
    assert np.array_equal(fixed, select.kmeans(x, 8, seed=1, iters=60, backend="torch"))
    assert not np.array_equal(fixed, select.kmeans(x, 8, seed=1, iters=40, backend="torch"))


def test_kmeans_faiss_is_spherical_uses_every_point_and_prints_nothing(capfd):
    """300 points a cluster (over faiss's 256-per-centroid default subsample): a tight cluster around (1, 0, 0) and
    a loose one around (0, 1, 0), whose plain mean is short (norm 0.7), so plain k-means would split them by
    Euclidean distance to unnormalized means. The centroids must be spherical k-means' fixed point over ALL the
    points: each the normalized sum of the points nearest it by cosine."""
    if select._faiss() is None:
        pytest.skip("faiss-cpu not installed (pip install 'squeeze[prune]')")
    rng = np.random.default_rng(0)
    x = np.concatenate([select.normalize(np.array([1.0, 0, 0]) + 0.05 * rng.normal(size=(300, 3))),
                        select.normalize(np.array([0, 1.0, 0]) + 0.8 * rng.normal(size=(300, 3)))])
    c = select.kmeans(x, 2, seed=0, backend="faiss")
    best, _ = select.assign(x, c)
    want = select.normalize(np.stack([x[best == j].sum(0) for j in range(2)]))
    np.testing.assert_allclose(c, want, atol=1e-6)
    assert capfd.readouterr().out == ""


def test_eps_search_bisects_30_times_from_eps_1():
    """One cluster: an untokenized copy of document 1 (never a candidate), then documents 1, 2, 3 of one token at
    cosines 1.5e-9 (1 to 2) and 5e-10 (1 to 3). Keeping 2 of the 3 tokens needs eps in (1 - 1.5e-9, 1 - 5e-10],
    which the bisection over [0, 2] first enters at its 31st halving (1 - 2^-30); before, eps 1.0 keeps one
    document and every later halving (1 - 2^-(s-1)) all three. With the default 30 the first of those equally far
    results is returned: eps 1.0."""
    x = np.array([[1.0, 0, 0], [1.0, 0, 0], [1.5e-9, 1.0, 0], [5e-10, 0, 1.0]])
    cluster, ntok = np.zeros(4, dtype=int), np.array([0, 1, 1, 1])
    eps, keep = select.eps_for_keep(x, cluster, ntok, 2 / 3)
    assert eps == 1.0 and kept(keep) == [1]
    eps, keep = select.eps_for_keep(x, cluster, ntok, 2 / 3, steps=31)
    assert eps == 1 - 2.0 ** -30 and kept(keep) == [1, 3]
