"""The paper's definitions as exact pure functions on log-probability tables.

Huang et al., "Self-Improvement in Language Models: The Sharpening Mechanism" (arXiv 2412.01951).
Every function takes ``logp[..., X, Y]`` tables (rows normalized, ``-inf`` for zero mass) and prompt
weights ``mu[X]``; no sampling, no learning.
"""

from ._argmax import argmax_set as argmax_set
from ._argmax import log_mass_in_set as log_mass_in_set
from ._argmax import log_mass_on_argmax as log_mass_on_argmax
from ._argmax import margin as margin
from ._bon import bon_law as bon_law
from ._bon import bon_miss_probability as bon_miss_probability
from ._bon import log_bon_miss_probability as log_bon_miss_probability
from ._coverage import adaptive_coverage as adaptive_coverage
from ._coverage import coverage as coverage
from ._coverage import coverage_from_log_mass as coverage_from_log_mass
from ._coverage import log_adaptive_coverage as log_adaptive_coverage
from ._coverage import log_coverage as log_coverage
from ._coverage import log_coverage_from_log_mass as log_coverage_from_log_mass
from ._divergences import concentrability as concentrability
from ._divergences import concentrability_ratio as concentrability_ratio
from ._divergences import entropy as entropy
from ._divergences import hellinger_sq as hellinger_sq
from ._divergences import kl as kl
from ._sharpening import error_at_most as error_at_most
from ._sharpening import is_sharpened as is_sharpened
from ._sharpening import sharpening_error as sharpening_error
from ._sharpening import sharpening_error_from_log_mass as sharpening_error_from_log_mass
from ._tilt import kl_regularized_objective as kl_regularized_objective
from ._tilt import kl_tilt as kl_tilt
from ._tilt import reverse_kl_tilt as reverse_kl_tilt

__all__ = [
    "adaptive_coverage",
    "argmax_set",
    "bon_law",
    "bon_miss_probability",
    "concentrability",
    "concentrability_ratio",
    "coverage",
    "coverage_from_log_mass",
    "entropy",
    "error_at_most",
    "hellinger_sq",
    "is_sharpened",
    "kl",
    "kl_regularized_objective",
    "kl_tilt",
    "log_adaptive_coverage",
    "log_bon_miss_probability",
    "log_coverage",
    "log_coverage_from_log_mass",
    "log_mass_in_set",
    "log_mass_on_argmax",
    "margin",
    "reverse_kl_tilt",
    "sharpening_error",
    "sharpening_error_from_log_mass",
]
