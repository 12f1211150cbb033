"""Sampling on the GPU (kernels/sampling.py): the candidates and the nucleus exactly as the numpy
definition has them, the token the reference draws for a seed and position, and the frequencies of
many draws against the distribution, within a stated bound; through the runtime, reproducible per
seed, with nothing but the token read back."""
import numpy as np
import pytest

from kernels import sampling
from kernels.sampling import order_key_reference, sample, sample_distribution, sample_reference

RNG = np.random.default_rng(5)


def kth_key(logits, k):
    return int(order_key_reference(np.sort(np.asarray(logits, np.float32))[::-1][k - 1]))


@pytest.mark.parametrize("n,kw", [
    (5000, dict(temperature=1.0)),
    (5000, dict(temperature=0.6, top_k=40)),
    (5000, dict(temperature=1.0, top_p=0.8)),
    (20000, dict(temperature=1.5, top_k=7, top_p=0.6)),
    (300, dict(temperature=1.0, top_k=500)),  # top_k past the vocabulary
    (3000, dict(temperature=0.9, top_k=1)),
])
def test_candidates_nucleus_and_token_are_the_reference_ones(device, n, kw):
    logits = (RNG.standard_normal(n) * 2 - 1).astype(np.float32)
    top_k, top_p = kw.get("top_k", 0), kw.get("top_p", 1.0)
    p = sample_distribution(logits, kw["temperature"], top_p, top_k)
    mismatches = 0
    for position in range(12):
        token, info = sample(logits, seed=11, position=position, **kw)
        assert info["threshold_key"] == kth_key(logits, sampling.candidate_count(n, top_k))
        assert info["nucleus"] == np.count_nonzero(p)
        assert p[token] > 0
        mismatches += token != sample_reference(logits, kw["temperature"], top_p, top_k, 11, position)
    assert mismatches <= 1  # f32 sums may place a draw on the other side of an edge, rarely


def test_ties_and_negative_logits(device):
    logits = np.full(2000, -5.0, np.float32)
    logits[[10, 20, 30, 40]] = -1.0  # four equal best
    token, info = sample(logits, temperature=1.0, top_k=2, seed=1)
    assert info["nucleus"] == 4 and token in (10, 20, 30, 40)  # every logit equal to the k-th stays
    assert info["threshold_key"] == int(order_key_reference(np.float32(-1.0)))


def test_draw_frequencies_follow_the_distribution(device):
    """600 draws (positions 0..599 of one seed) from a distribution over ~16 tokens: every token's
    frequency within 5 standard deviations of its probability, and a chi-square test passes."""
    logits = np.linspace(3, -3, 300).astype(np.float32)
    kw = dict(temperature=0.8, top_p=0.95)
    p = sample_distribution(logits, kw["temperature"], kw["top_p"], 0)
    draws = np.array([sample(logits, seed=99, position=i, **kw)[0] for i in range(600)])
    counts = np.bincount(draws, minlength=len(logits)).astype(np.float64)
    assert counts[p == 0].sum() == 0
    freq = counts / len(draws)
    sigma = np.sqrt(p * (1 - p) / len(draws))
    assert np.all(np.abs(freq - p) <= 5 * sigma + 1e-9), np.abs(freq - p) / np.maximum(sigma, 1e-12)
    keep = p * len(draws) >= 5
    expected = p[keep] * len(draws)
    observed = counts[keep]
    other_e, other_o = len(draws) - expected.sum(), len(draws) - observed.sum()
    chi2 = ((observed - expected) ** 2 / expected).sum() + ((other_o - other_e) ** 2 / other_e if other_e > 0 else 0)
    dof = keep.sum()  # cells (plus the pooled rest) minus one
    assert chi2 < dof + 6 * np.sqrt(2 * dof), (chi2, dof)


def test_parameters_are_checked():
    with pytest.raises(ValueError, match="temperature must be positive for sampling"):
        sample(np.zeros(8, np.float32), temperature=0.0)
    with pytest.raises(ValueError, match=r"top_p must be in \(0, 1\]"):
        sample(np.zeros(8, np.float32), temperature=1.0, top_p=1.5)
