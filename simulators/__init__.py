"""Toy policies, sampling, the sample-and-evaluate oracle, self-rewards, model classes and the
sharpening algorithms of Huang et al. (arXiv 2412.01951), plus the transformer adapter
(``simulators.hf``, optional ``hf`` extra)."""

from ._algorithms import Result as Result
from ._algorithms import adaptive_sft_sharpening as adaptive_sft_sharpening
from ._algorithms import dpo_sharpening as dpo_sharpening
from ._algorithms import prefix_best_of_n as prefix_best_of_n
from ._algorithms import sft_sharpening as sft_sharpening
from ._algorithms import xpo_sharpening as xpo_sharpening
from ._answer_toy import AnswerToy as AnswerToy
from ._answer_toy import length_bias_toy as length_bias_toy
from ._answer_toy import majority_prefix_correct as majority_prefix_correct
from ._answer_toy import majority_vs_likelihood_toy as majority_vs_likelihood_toy
from ._api import greedy as greedy
from ._api import log_mass_in_set as log_mass_in_set
from ._api import log_prob as log_prob
from ._api import sample as sample
from ._api import sequence_argmax as sequence_argmax
from ._api import to_table as to_table
from ._autoregressive import AutoregressivePolicy as AutoregressivePolicy
from ._autoregressive import autoregressive_argmax as autoregressive_argmax
from ._autoregressive import enumerate_responses as enumerate_responses
from ._autoregressive import num_prefixes as num_prefixes
from ._autoregressive import num_responses as num_responses
from ._autoregressive import random_autoregressive as random_autoregressive
from ._best_of_n import best_of_n as best_of_n
from ._classes import ColumnIndexedClass as ColumnIndexedClass
from ._classes import FiniteClass as FiniteClass
from ._classes import LinearSoftmaxClass as LinearSoftmaxClass
from ._classes import MarkovClass as MarkovClass
from ._classes import ModelClass as ModelClass
from ._classes import PairData as PairData
from ._classes import TabularClass as TabularClass
from ._classes import contains as contains
from ._classes import fit_squared_loss as fit_squared_loss
from ._classes import linear_log_net_size as linear_log_net_size
from ._classes import log_class_size as log_class_size
from ._classes import make_pair_data as make_pair_data
from ._classes import mle as mle
from ._classes import negative_log_likelihood as negative_log_likelihood
from ._classes import response_columns as response_columns
from ._classes import squared_loss as squared_loss
from ._classes import squared_loss_residual as squared_loss_residual
from ._classes import xpo_objective as xpo_objective
from ._evaluation import sharpening_metrics as sharpening_metrics
from ._executors import RayExecutor as RayExecutor
from ._instances import BUILTIN_INSTANCES as BUILTIN_INSTANCES
from ._instances import coverage_tabular as coverage_tabular
from ._instances import dirichlet_tabular as dirichlet_tabular
from ._instances import greedy_counterexample as greedy_counterexample
from ._label_free import PolicyStats as PolicyStats
from ._label_free import SharpeningMonitor as SharpeningMonitor
from ._label_free import SoftmaxParametrization as SoftmaxParametrization
from ._label_free import answer_mode_mask as answer_mode_mask
from ._label_free import em_ft as em_ft
from ._label_free import em_rl as em_rl
from ._label_free import em_sequence_reward as em_sequence_reward
from ._label_free import em_token_reward as em_token_reward
from ._label_free import expected_update as expected_update
from ._label_free import group_advantages as group_advantages
from ._label_free import iterated_bon_law as iterated_bon_law
from ._label_free import iterated_kl_tilt as iterated_kl_tilt
from ._label_free import iterated_rlhf_sharpening as iterated_rlhf_sharpening
from ._label_free import iterated_sft_sharpening as iterated_sft_sharpening
from ._label_free import pg_sharpening as pg_sharpening
from ._label_free import plurality_toy as plurality_toy
from ._label_free import sampled_update as sampled_update
from ._label_free import sharpening_monitor as sharpening_monitor
from ._label_free import softmax_parametrization as softmax_parametrization
from ._label_free import ttrl as ttrl
from ._label_free import ttrl_expected_advantage as ttrl_expected_advantage
from ._label_free import ttrl_reward as ttrl_reward
from ._linear_instances import LinearInstance as LinearInstance
from ._linear_instances import hidden_direction_instance as hidden_direction_instance
from ._linear_instances import random_spherical_code as random_spherical_code
from ._linear_instances import spherical_code_instance as spherical_code_instance
from ._linear_softmax import LinearSoftmaxPolicy as LinearSoftmaxPolicy
from ._linear_softmax import linear_softmax_logp as linear_softmax_logp
from ._linear_softmax import random_linear_softmax as random_linear_softmax
from ._markov import MarkovPolicy as MarkovPolicy
from ._markov import markov_viterbi as markov_viterbi
from ._markov import random_markov as random_markov
from ._multilayer_softmax import MultiLayerSoftmaxPolicy as MultiLayerSoftmaxPolicy
from ._multilayer_softmax import multilayer_softmax_logp as multilayer_softmax_logp
from ._multilayer_softmax import random_multilayer_softmax as random_multilayer_softmax
from ._oracle import AdaptiveDraw as AdaptiveDraw
from ._oracle import LikelihoodStoppingRule as LikelihoodStoppingRule
from ._oracle import SampleEvaluateOracle as SampleEvaluateOracle
from ._oracle import draw as draw
from ._oracle import draw_adaptive as draw_adaptive
from ._oracle import draw_prompts as draw_prompts
from ._oracle import evaluate as evaluate
from ._oracle import likelihood_stopping_rule as likelihood_stopping_rule
from ._oracle import make_oracle as make_oracle
from ._power import InhomogeneousMarkovPolicy as InhomogeneousMarkovPolicy
from ._power import power_log_normalizer as power_log_normalizer
from ._power import power_policy as power_policy
from ._power import tempered_policy as tempered_policy
from ._power_samplers import bon_sampler as bon_sampler
from ._power_samplers import lookahead_sampler as lookahead_sampler
from ._power_samplers import mh_law as mh_law
from ._power_samplers import mh_sampler as mh_sampler
from ._power_samplers import smc_sampler as smc_sampler
from ._power_samplers import temperature_sampler as temperature_sampler
from ._prefix import Continuation as Continuation
from ._prefix import PrefixOracle as PrefixOracle
from ._prefix import SamplerCost as SamplerCost
from ._prefix import continue_prefix as continue_prefix
from ._prefix import evaluate_sequences as evaluate_sequences
from ._prefix import padding_token as padding_token
from ._prefix import response_horizon as response_horizon
from ._prefix import sample_continuation as sample_continuation
from ._protocol import aggregate_subsamples as aggregate_subsamples
from ._protocol import bon_curve as bon_curve
from ._protocol import bon_expected as bon_expected
from ._protocol import bon_subset_weights as bon_subset_weights
from ._protocol import coverage_plugin as coverage_plugin
from ._protocol import default_ns as default_ns
from ._protocol import lift_percent as lift_percent
from ._protocol import likelihood_by_correctness as likelihood_by_correctness
from ._protocol import pass_at_k as pass_at_k
from ._protocol import protocol_summary as protocol_summary
from ._protocol import run_protocol as run_protocol
from ._protocol import sample_table as sample_table
from ._protocol import subsample_indices as subsample_indices
from ._protocol import take_per_prompt as take_per_prompt
from ._rewards import REWARDS as REWARDS
from ._rewards import SelfReward as SelfReward
from ._rewards import get_reward as get_reward
from ._rewards import is_per_draw as is_per_draw
from ._rewards import length_normalized_log_likelihood as length_normalized_log_likelihood
from ._rewards import log_likelihood as log_likelihood
from ._rewards import majority_vote as majority_vote
from ._rewards import negative_entropy as negative_entropy
from ._rewards import register_reward as register_reward
from ._rewards import self_certainty as self_certainty
from ._rollouts import Rollouts as Rollouts
from ._rollouts import check_rollouts as check_rollouts
from ._sweep import sweep as sweep
from ._tabular import CountPolicy as CountPolicy
from ._tabular import SparseSoftmaxPolicy as SparseSoftmaxPolicy
from ._tabular import TabularPolicy as TabularPolicy
from ._tabular import sample_indices as sample_indices
from .experiments import TabularSFTConfig as TabularSFTConfig
from .experiments import run_tabular_sft as run_tabular_sft
from .experiments import tabular_sft_exact_law as tabular_sft_exact_law

__all__ = [
    "BUILTIN_INSTANCES",
    "PolicyStats",
    "REWARDS",
    "AdaptiveDraw",
    "AnswerToy",
    "AutoregressivePolicy",
    "ColumnIndexedClass",
    "Continuation",
    "CountPolicy",
    "FiniteClass",
    "InhomogeneousMarkovPolicy",
    "LikelihoodStoppingRule",
    "LinearInstance",
    "LinearSoftmaxClass",
    "LinearSoftmaxPolicy",
    "MarkovClass",
    "MarkovPolicy",
    "ModelClass",
    "MultiLayerSoftmaxPolicy",
    "PairData",
    "PrefixOracle",
    "RayExecutor",
    "Result",
    "Rollouts",
    "SampleEvaluateOracle",
    "SamplerCost",
    "SelfReward",
    "SharpeningMonitor",
    "SoftmaxParametrization",
    "SparseSoftmaxPolicy",
    "TabularClass",
    "TabularPolicy",
    "TabularSFTConfig",
    "adaptive_sft_sharpening",
    "aggregate_subsamples",
    "answer_mode_mask",
    "autoregressive_argmax",
    "best_of_n",
    "bon_curve",
    "bon_expected",
    "bon_sampler",
    "bon_subset_weights",
    "check_rollouts",
    "contains",
    "continue_prefix",
    "coverage_plugin",
    "coverage_tabular",
    "default_ns",
    "dirichlet_tabular",
    "dpo_sharpening",
    "draw",
    "draw_adaptive",
    "draw_prompts",
    "em_ft",
    "em_rl",
    "em_sequence_reward",
    "em_token_reward",
    "enumerate_responses",
    "evaluate",
    "evaluate_sequences",
    "expected_update",
    "fit_squared_loss",
    "get_reward",
    "greedy",
    "greedy_counterexample",
    "group_advantages",
    "hidden_direction_instance",
    "is_per_draw",
    "iterated_bon_law",
    "iterated_kl_tilt",
    "iterated_rlhf_sharpening",
    "iterated_sft_sharpening",
    "length_bias_toy",
    "length_normalized_log_likelihood",
    "lift_percent",
    "likelihood_by_correctness",
    "likelihood_stopping_rule",
    "linear_log_net_size",
    "linear_softmax_logp",
    "log_class_size",
    "log_likelihood",
    "log_mass_in_set",
    "log_prob",
    "lookahead_sampler",
    "majority_prefix_correct",
    "majority_vote",
    "majority_vs_likelihood_toy",
    "make_oracle",
    "make_pair_data",
    "markov_viterbi",
    "mh_law",
    "mh_sampler",
    "mle",
    "multilayer_softmax_logp",
    "negative_entropy",
    "negative_log_likelihood",
    "num_prefixes",
    "num_responses",
    "padding_token",
    "pass_at_k",
    "pg_sharpening",
    "plurality_toy",
    "power_log_normalizer",
    "power_policy",
    "prefix_best_of_n",
    "protocol_summary",
    "random_autoregressive",
    "random_linear_softmax",
    "random_markov",
    "random_multilayer_softmax",
    "random_spherical_code",
    "register_reward",
    "response_columns",
    "response_horizon",
    "run_protocol",
    "run_tabular_sft",
    "sample",
    "sample_continuation",
    "sample_indices",
    "sample_table",
    "sampled_update",
    "self_certainty",
    "sequence_argmax",
    "sft_sharpening",
    "sharpening_metrics",
    "sharpening_monitor",
    "smc_sampler",
    "softmax_parametrization",
    "spherical_code_instance",
    "squared_loss",
    "squared_loss_residual",
    "subsample_indices",
    "sweep",
    "tabular_sft_exact_law",
    "take_per_prompt",
    "temperature_sampler",
    "tempered_policy",
    "to_table",
    "ttrl",
    "ttrl_expected_advantage",
    "ttrl_reward",
    "xpo_objective",
    "xpo_sharpening",
]
