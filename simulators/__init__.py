"""Toy policies, sampling, the sample-and-evaluate oracle, self-rewards, model classes and the
sharpening algorithms of Huang et al. (arXiv 2412.01951), plus the transformer adapter
(``simulators.hf``, optional ``hf`` extra)."""

from ._api import greedy as greedy
from ._api import log_prob as log_prob
from ._api import sample as sample
from ._api import sequence_argmax as sequence_argmax
from ._api import to_table as to_table
from ._rollouts import Rollouts as Rollouts
from ._rollouts import check_rollouts as check_rollouts
from ._tabular import TabularPolicy as TabularPolicy
from ._tabular import sample_indices as sample_indices

__all__ = [
    "Rollouts",
    "TabularPolicy",
    "check_rollouts",
    "greedy",
    "log_prob",
    "sample",
    "sample_indices",
    "sequence_argmax",
    "to_table",
]
