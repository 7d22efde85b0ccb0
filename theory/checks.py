"""The argument checks every layer of the toolkit uses, public so that a researcher's own policy,
model class, experiment or claim refuses bad input the way the library does.

Each check names the offending argument and the expected form (``ValueError`` / ``TypeError``),
so bad input fails loudly instead of producing a silently wrong number. Concrete values are
checked before any work; a traced scalar is checked at run time inside the compiled program
(:func:`runtime_check`, with ``equinox.error_if``); traced tables are checked for shape and dtype
only (validate them where they are concrete: at construction). The details are in
:mod:`theory._validation`, where these live.
"""

from ._logmath import tie_tolerance as tie_tolerance
from ._validation import MAX_ARRAY_ENTRIES as MAX_ARRAY_ENTRIES
from ._validation import MAX_TABLE_ENTRIES as MAX_TABLE_ENTRIES
from ._validation import as_array as as_array
from ._validation import check_allocation as check_allocation
from ._validation import check_at_least as check_at_least
from ._validation import check_count as check_count
from ._validation import check_finite_on_support as check_finite_on_support
from ._validation import check_gamma as check_gamma
from ._validation import check_integer as check_integer
from ._validation import check_log_mass as check_log_mass
from ._validation import check_logp as check_logp
from ._validation import check_mu as check_mu
from ._validation import check_nonnegative as check_nonnegative
from ._validation import check_open_unit as check_open_unit
from ._validation import check_positive as check_positive
from ._validation import check_probs as check_probs
from ._validation import check_same_shape as check_same_shape
from ._validation import check_scalar as check_scalar
from ._validation import check_table_size as check_table_size
from ._validation import format_count as format_count
from ._validation import is_concrete as is_concrete
from ._validation import log_count as log_count
from ._validation import normalization_atol as normalization_atol
from ._validation import runtime_check as runtime_check

__all__ = [
    "MAX_ARRAY_ENTRIES",
    "MAX_TABLE_ENTRIES",
    "as_array",
    "check_allocation",
    "check_at_least",
    "check_count",
    "check_finite_on_support",
    "check_gamma",
    "check_integer",
    "check_log_mass",
    "check_logp",
    "check_mu",
    "check_nonnegative",
    "check_open_unit",
    "check_positive",
    "check_probs",
    "check_same_shape",
    "check_scalar",
    "check_table_size",
    "format_count",
    "is_concrete",
    "log_count",
    "normalization_atol",
    "runtime_check",
    "tie_tolerance",
]
