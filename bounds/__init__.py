"""The theorems' rates, the hard instances with their minimax learners, sample-complexity
estimation, and the registry of numerically checkable claims (THEORY.md sections 3 and 6)."""

from ._lower_bound import AdaptiveFrontier as AdaptiveFrontier
from ._lower_bound import HardInstanceThresholds as HardInstanceThresholds
from ._lower_bound import LemmaH3Constant as LemmaH3Constant
from ._lower_bound import adaptive_cap_bayes_error as adaptive_cap_bayes_error
from ._lower_bound import adaptive_optimal_frontier as adaptive_optimal_frontier
from ._lower_bound import adaptive_threshold as adaptive_threshold
from ._lower_bound import bayes_error_after_draws as bayes_error_after_draws
from ._lower_bound import hard_instance as hard_instance
from ._lower_bound import hard_instance_bayes_guess as hard_instance_bayes_guess
from ._lower_bound import hard_instance_coverage as hard_instance_coverage
from ._lower_bound import hard_instance_log_cardinality as hard_instance_log_cardinality
from ._lower_bound import hard_instance_params as hard_instance_params
from ._lower_bound import hard_instance_thresholds as hard_instance_thresholds
from ._lower_bound import lemma_h3_constant as lemma_h3_constant
from ._lower_bound import nonadaptive_bayes_error as nonadaptive_bayes_error
from ._lower_bound import nonadaptive_threshold as nonadaptive_threshold
from ._lower_bound import simulate_adaptive_bayes_learner as simulate_adaptive_bayes_learner
from ._lower_bound import simulate_nonadaptive_bayes_learner as simulate_nonadaptive_bayes_learner
from ._rates import FailureBound as FailureBound
from ._rates import adaptive_lower_bound_sample_complexity as adaptive_lower_bound_sample_complexity
from ._rates import adaptive_sft_expected_queries as adaptive_sft_expected_queries
from ._rates import adaptive_sft_failure_bound as adaptive_sft_failure_bound
from ._rates import adaptive_sft_sample_complexity as adaptive_sft_sample_complexity
from ._rates import adaptive_sft_stopping_parameter as adaptive_sft_stopping_parameter
from ._rates import adaptive_stopping_expected_draws_bound as adaptive_stopping_expected_draws_bound
from ._rates import adaptive_stopping_miss_bound as adaptive_stopping_miss_bound
from ._rates import bon_miss_probability as bon_miss_probability
from ._rates import bon_num_samples as bon_num_samples
from ._rates import dpo_beta as dpo_beta
from ._rates import dpo_failure_bound as dpo_failure_bound
from ._rates import dpo_sample_complexity as dpo_sample_complexity
from ._rates import hard_class_log_cardinality as hard_class_log_cardinality
from ._rates import kl_tilt_concentrability_bound as kl_tilt_concentrability_bound
from ._rates import kl_tilt_loss_concentrability_bound as kl_tilt_loss_concentrability_bound
from ._rates import kl_tilt_margin_bound as kl_tilt_margin_bound
from ._rates import linear_softmax_alpha as linear_softmax_alpha
from ._rates import linear_softmax_beta as linear_softmax_beta
from ._rates import linear_softmax_log_net_size as linear_softmax_log_net_size
from ._rates import linear_softmax_r_max as linear_softmax_r_max
from ._rates import linear_softmax_required_radius as linear_softmax_required_radius
from ._rates import linear_softmax_sec_bound as linear_softmax_sec_bound
from ._rates import linear_softmax_theta_norm_bound as linear_softmax_theta_norm_bound
from ._rates import lower_bound_sample_complexity as lower_bound_sample_complexity
from ._rates import mle_hellinger_bound as mle_hellinger_bound
from ._rates import moment_lower_bound_sample_complexity as moment_lower_bound_sample_complexity
from ._rates import sft_budget as sft_budget
from ._rates import sft_failure_bound as sft_failure_bound
from ._rates import sft_num_prompts as sft_num_prompts
from ._rates import sft_num_responses as sft_num_responses
from ._rates import sft_sample_complexity as sft_sample_complexity
from ._rates import xpo_alpha as xpo_alpha
from ._rates import xpo_beta as xpo_beta
from ._rates import xpo_eps_disc as xpo_eps_disc
from ._rates import xpo_kl_bound as xpo_kl_bound
from ._rates import xpo_num_rounds as xpo_num_rounds
from ._rates import xpo_sample_complexity as xpo_sample_complexity
from ._rates import xpo_sample_complexity_informal as xpo_sample_complexity_informal
from ._sample_complexity import BudgetInterval as BudgetInterval
from ._sample_complexity import ProductBudget as ProductBudget
from ._sample_complexity import SlopeFit as SlopeFit
from ._sample_complexity import fit_loglog_slope as fit_loglog_slope
from ._sample_complexity import fit_scaling as fit_scaling
from ._sample_complexity import minimal_budget as minimal_budget
from ._sample_complexity import minimal_budget_bisect as minimal_budget_bisect
from ._sample_complexity import minimal_budget_ci as minimal_budget_ci
from ._sample_complexity import minimal_product_budget as minimal_product_budget
from ._sample_complexity import minimal_product_budget_ci as minimal_product_budget_ci
from ._sample_complexity import scaling_slope as scaling_slope
from ._sample_complexity import success_grid as success_grid
from ._toys import MaxCutReport as MaxCutReport
from ._toys import NonClosureReport as NonClosureReport
from ._toys import bon_accuracy as bon_accuracy
from ._toys import brute_force_max_cut as brute_force_max_cut
from ._toys import cut_value as cut_value
from ._toys import majority_accuracy as majority_accuracy
from ._toys import maxcut_policy as maxcut_policy
from ._toys import maxcut_report as maxcut_report
from ._toys import nonclosure_policy as nonclosure_policy
from ._toys import nonclosure_report as nonclosure_report
from ._toys import nonclosure_table as nonclosure_table
from ._toys import power_spread_instance as power_spread_instance
from ._toys import power_spread_tv as power_spread_tv
from ._toys import sequence_log_probs as sequence_log_probs

__all__: list[str] = [
    "AdaptiveFrontier",
    "BudgetInterval",
    "ProductBudget",
    "FailureBound",
    "HardInstanceThresholds",
    "LemmaH3Constant",
    "MaxCutReport",
    "NonClosureReport",
    "SlopeFit",
    "adaptive_cap_bayes_error",
    "adaptive_lower_bound_sample_complexity",
    "adaptive_optimal_frontier",
    "adaptive_sft_expected_queries",
    "adaptive_sft_failure_bound",
    "adaptive_sft_sample_complexity",
    "adaptive_sft_stopping_parameter",
    "adaptive_stopping_expected_draws_bound",
    "adaptive_stopping_miss_bound",
    "adaptive_threshold",
    "bayes_error_after_draws",
    "bon_accuracy",
    "bon_miss_probability",
    "bon_num_samples",
    "brute_force_max_cut",
    "cut_value",
    "dpo_beta",
    "dpo_failure_bound",
    "dpo_sample_complexity",
    "fit_loglog_slope",
    "fit_scaling",
    "hard_class_log_cardinality",
    "hard_instance",
    "hard_instance_bayes_guess",
    "hard_instance_coverage",
    "hard_instance_log_cardinality",
    "hard_instance_params",
    "hard_instance_thresholds",
    "kl_tilt_concentrability_bound",
    "kl_tilt_loss_concentrability_bound",
    "kl_tilt_margin_bound",
    "lemma_h3_constant",
    "linear_softmax_alpha",
    "linear_softmax_beta",
    "linear_softmax_log_net_size",
    "linear_softmax_r_max",
    "linear_softmax_required_radius",
    "linear_softmax_sec_bound",
    "linear_softmax_theta_norm_bound",
    "lower_bound_sample_complexity",
    "majority_accuracy",
    "maxcut_policy",
    "maxcut_report",
    "minimal_budget",
    "minimal_budget_bisect",
    "minimal_budget_ci",
    "minimal_product_budget",
    "minimal_product_budget_ci",
    "mle_hellinger_bound",
    "moment_lower_bound_sample_complexity",
    "nonadaptive_bayes_error",
    "nonadaptive_threshold",
    "nonclosure_policy",
    "nonclosure_report",
    "nonclosure_table",
    "power_spread_instance",
    "power_spread_tv",
    "scaling_slope",
    "sequence_log_probs",
    "sft_budget",
    "sft_failure_bound",
    "sft_num_prompts",
    "sft_num_responses",
    "sft_sample_complexity",
    "simulate_adaptive_bayes_learner",
    "simulate_nonadaptive_bayes_learner",
    "success_grid",
    "xpo_alpha",
    "xpo_beta",
    "xpo_eps_disc",
    "xpo_kl_bound",
    "xpo_num_rounds",
    "xpo_sample_complexity",
    "xpo_sample_complexity_informal",
]


from .claims import CLAIMS as CLAIMS
from .claims import Claim as Claim
from .claims import ClaimResult as ClaimResult
from .claims import Outcome as Outcome
from .claims import claim as claim
from .claims import run_claims as run_claims

__all__ += ["CLAIMS", "Claim", "ClaimResult", "Outcome", "claim", "run_claims"]
