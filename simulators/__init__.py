"""Toy policies, sampling, the sample-and-evaluate oracle, self-rewards, model classes and the
sharpening algorithms of Huang et al. (arXiv 2412.01951), plus the transformer adapter
(``simulators.hf``, optional ``hf`` extra)."""

from ._api import greedy as greedy
from ._api import log_prob as log_prob
from ._api import sample as sample
from ._api import sequence_argmax as sequence_argmax
from ._api import to_table as to_table
from ._best_of_n import best_of_n as best_of_n
from ._rewards import length_normalized_log_likelihood as length_normalized_log_likelihood
from ._rewards import log_likelihood as log_likelihood
from ._rewards import majority_vote as majority_vote
from ._rewards import negative_entropy as negative_entropy
from ._rewards import self_certainty as self_certainty
from ._rollouts import Rollouts as Rollouts
from ._rollouts import check_rollouts as check_rollouts
from ._tabular import TabularPolicy as TabularPolicy
from ._tabular import sample_indices as sample_indices

__all__ = [
    "Rollouts",
    "TabularPolicy",
    "best_of_n",
    "check_rollouts",
    "greedy",
    "length_normalized_log_likelihood",
    "log_likelihood",
    "log_prob",
    "majority_vote",
    "negative_entropy",
    "sample",
    "sample_indices",
    "self_certainty",
    "sequence_argmax",
    "to_table",
]
