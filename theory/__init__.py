"""The paper's definitions as exact pure functions on log-probability tables.

Huang et al., "Self-Improvement in Language Models: The Sharpening Mechanism" (arXiv 2412.01951).
Every function takes ``logp[..., X, Y]`` tables (rows normalized, ``-inf`` for zero mass) and prompt
weights ``mu[X]``; no sampling, no learning.
"""

__all__: list[str] = []
