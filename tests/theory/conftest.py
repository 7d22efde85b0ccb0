"""Random instances and brute-force references shared by the ``theory`` tests.

The references are plain numpy/Python loops over the paper's definitions, written independently
of the library's log-space formulas.
"""

import decimal
import math

import numpy as np
import pytest


def np_logsumexp(a, axis=-1):
    a = np.asarray(a, dtype=np.float64)
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        return np.squeeze(m, axis) + np.log(np.sum(np.exp(a - m), axis=axis))


def decimal_log_normalize(row):
    """``row - logsumexp(row)`` in 60-digit decimal arithmetic, rounded to float64 at the end.

    Exact to the last bit also where the result is near 0 (a mass of ``1 - 1e-30``), where a
    float64 logsumexp keeps only an absolute precision of one ulp of 1.
    """
    with decimal.localcontext(decimal.Context(prec=60)):
        logs = [decimal.Decimal(float(v)) for v in row if v > -math.inf]
        log_z = sum((v.exp() for v in logs), decimal.Decimal(0)).ln()
        return np.array(
            [float(decimal.Decimal(float(v)) - log_z) if v > -math.inf else -np.inf for v in row]
        )


def random_table(rng, num_prompts, num_responses, *, ties=True, zeros=True, tiny=True):
    """A normalized ``[X, Y]`` log-probability table with exact ties, zero masses and tiny masses.

    Ties are exact because tied logits are copies and normalization subtracts the same constant.
    Tiny entries have log-probabilities between -700 and -690 (masses down to 1e-304).
    """
    logits = rng.normal(size=(num_prompts, num_responses)) * 1.5
    for x in range(num_prompts):
        if ties and num_responses >= 3 and rng.random() < 0.7:
            # tie the top entry with another one (a tied argmax set) or tie two others
            src = (
                int(np.argmax(logits[x]))
                if rng.random() < 0.5
                else int(rng.integers(num_responses))
            )
            dst = int(rng.integers(num_responses))
            logits[x, dst] = logits[x, src]
        if tiny and num_responses >= 4 and rng.random() < 0.5:
            logits[x, int(rng.integers(num_responses))] = -690.0 - 10 * rng.random()
        if zeros and num_responses >= 4 and rng.random() < 0.5:
            j = int(rng.integers(num_responses))
            if np.sum(np.isfinite(logits[x])) > 1 and logits[x, j] < np.max(logits[x]):
                logits[x, j] = -np.inf
    logp = logits - np_logsumexp(logits)[:, None]
    return logp


def random_mu(rng, num_prompts, *, zeros=True):
    w = rng.random(num_prompts) + 0.05
    if zeros and num_prompts >= 3:
        w[int(rng.integers(num_prompts))] = 0.0
    return w / w.sum()


def brute_argmax_set(logp_row, gamma):
    p = [math.exp(v) if v > -math.inf else 0.0 for v in logp_row]
    top = max(p)
    return np.array([pi > 0 and pi >= (1 - gamma) * top for pi in p])


def brute_mass(logp_row, mask):
    """log of sum_{y in mask} pi(y), summing probabilities exactly with fsum."""
    total = math.fsum(math.exp(v) for v, m in zip(logp_row, mask, strict=True) if m)
    return math.log(total) if total > 0 else -math.inf


@pytest.fixture
def rng():
    return np.random.default_rng(20241202)


@pytest.fixture
def ref():
    """The brute-force references and instance generators above, for use inside tests."""
    import types

    return types.SimpleNamespace(
        logsumexp=np_logsumexp,
        log_normalize=decimal_log_normalize,
        random_table=random_table,
        random_mu=random_mu,
        argmax_set=brute_argmax_set,
        mass=brute_mass,
    )
