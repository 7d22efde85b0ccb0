"""Pins the public API (DESIGN.md house style item 1) and where the packages are imported from.

The package names are generic (``theory``, ``simulators``, ...), so a test checks that each one is
imported from this repository and not from some other installed distribution of the same name.
"""

import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("theory", "simulators", "bounds", "paper_figs")

# DESIGN.md's table of names other parts and users rely on.
THEORY_DESIGN_NAMES = {
    "argmax_set",
    "coverage",
    "adaptive_coverage",
    "sharpening_error",
    "kl_tilt",
    "bon_law",
    "concentrability",
    "kl",
    "hellinger_sq",
}
SIMULATORS_CORE_NAMES = {
    "Rollouts",
    "TabularPolicy",
    "AutoregressivePolicy",
    "MarkovPolicy",
    "LinearSoftmaxPolicy",
    "MultiLayerSoftmaxPolicy",
    "sample",
    "log_prob",
    "to_table",
    "greedy",
    "sequence_argmax",
    "make_oracle",
    "draw",
    "best_of_n",
    "sft_sharpening",
    "adaptive_sft_sharpening",
    "dpo_sharpening",
    "xpo_sharpening",
    "sweep",
    "ModelClass",
    "ColumnIndexedClass",
    "response_columns",
}


@pytest.mark.parametrize("name", PACKAGES)
def test_packages_are_imported_from_this_repository(name):
    module = importlib.import_module(name)
    assert Path(module.__file__).resolve().is_relative_to(ROOT), module.__file__


@pytest.mark.parametrize("name", ("theory", "simulators", "bounds"))
def test_all_names_exist_and_are_unique(name):
    module = importlib.import_module(name)
    assert len(module.__all__) == len(set(module.__all__))
    for attr in module.__all__:
        assert hasattr(module, attr), f"{name}.{attr} listed in __all__ but missing"


def test_design_names():
    import simulators
    import theory

    assert THEORY_DESIGN_NAMES <= set(theory.__all__)
    assert SIMULATORS_CORE_NAMES <= set(simulators.__all__)


def test_core_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, theory, simulators, bounds; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# Every package's __all__, exactly (DESIGN.md house style item 1): a name added or removed
# is a change of the public API and is made here on purpose.
PINNED = {
    "theory": (
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
        "log_mass_on_argmax",
        "margin",
        "sharpening_error",
    ),
    "theory.checks": (
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
    ),
    "simulators": (
        "AdaptiveDraw",
        "AnswerToy",
        "AutoregressivePolicy",
        "BUILTIN_INSTANCES",
        "ColumnIndexedClass",
        "FiniteClass",
        "LikelihoodStoppingRule",
        "LinearInstance",
        "LinearSoftmaxClass",
        "LinearSoftmaxPolicy",
        "MarkovClass",
        "MarkovPolicy",
        "ModelClass",
        "MultiLayerSoftmaxPolicy",
        "PairData",
        "REWARDS",
        "Result",
        "Rollouts",
        "SampleEvaluateOracle",
        "SelfReward",
        "TabularClass",
        "TabularPolicy",
        "TabularSFTConfig",
        "adaptive_sft_sharpening",
        "aggregate_subsamples",
        "autoregressive_argmax",
        "best_of_n",
        "bon_curve",
        "bon_expected",
        "bon_subset_weights",
        "check_rollouts",
        "contains",
        "coverage_plugin",
        "coverage_tabular",
        "default_ns",
        "dirichlet_tabular",
        "dpo_sharpening",
        "draw",
        "draw_adaptive",
        "draw_prompts",
        "enumerate_responses",
        "evaluate",
        "fit_squared_loss",
        "get_reward",
        "greedy",
        "greedy_counterexample",
        "hidden_direction_instance",
        "is_per_draw",
        "length_bias_toy",
        "length_normalized_log_likelihood",
        "lift_percent",
        "likelihood_by_correctness",
        "likelihood_stopping_rule",
        "linear_log_net_size",
        "linear_softmax_logp",
        "log_class_size",
        "log_likelihood",
        "log_prob",
        "majority_prefix_correct",
        "majority_vote",
        "majority_vs_likelihood_toy",
        "make_oracle",
        "make_pair_data",
        "markov_viterbi",
        "mle",
        "multilayer_softmax_logp",
        "negative_entropy",
        "negative_log_likelihood",
        "num_prefixes",
        "num_responses",
        "pass_at_k",
        "prefix_best_of_n",
        "protocol_summary",
        "random_autoregressive",
        "random_linear_softmax",
        "random_markov",
        "random_multilayer_softmax",
        "random_spherical_code",
        "register_reward",
        "response_columns",
        "run_protocol",
        "run_tabular_sft",
        "sample",
        "sample_indices",
        "sample_table",
        "self_certainty",
        "sequence_argmax",
        "sft_sharpening",
        "spherical_code_instance",
        "squared_loss",
        "squared_loss_residual",
        "subsample_indices",
        "sweep",
        "tabular_sft_exact_law",
        "take_per_prompt",
        "to_table",
        "xpo_objective",
        "xpo_sharpening",
    ),
    "simulators.experiments": (
        "AdaptiveSFTConfig",
        "DPOConfig",
        "TabularSFTConfig",
        "run_adaptive_sft",
        "run_dpo",
        "run_tabular_sft",
        "squared_loss_mass",
        "tabular_sft_exact_law",
        "xpo_iterates",
    ),
    "simulators.hf": (
        "BUILTIN_MODELS",
        "BUILTIN_TASKS",
        "HFPolicy",
        "TINY_GPT2_POSITIONS",
        "Task",
        "TrainConfig",
        "add_lora",
        "answers_match",
        "arithmetic",
        "base_model",
        "compare",
        "decode",
        "encode_prompts",
        "encode_responses",
        "evaluate",
        "extract_final_answer",
        "extract_first_number",
        "extract_true_false",
        "format_prompt",
        "get_task",
        "gold_answer",
        "grade",
        "greedy_rollouts",
        "label_rollouts",
        "load_jsonl",
        "logic",
        "model_context_length",
        "normalize_answer",
        "rescore",
        "resolve_device",
        "resolve_dtype",
        "resolve_model_path",
        "rlhf_sharpening",
        "sample_rollouts",
        "score_texts",
        "score_tokens",
        "sequence_log_probs",
        "sft_sharpening",
        "subset",
        "task_prompts",
        "tiny_gpt2",
        "xpo_sharpening",
    ),
    "bounds": (
        "AdaptiveFrontier",
        "BudgetInterval",
        "CLAIMS",
        "Claim",
        "ClaimResult",
        "FailureBound",
        "HardInstanceThresholds",
        "LemmaH3Constant",
        "MaxCutReport",
        "NonClosureReport",
        "Outcome",
        "ProductBudget",
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
        "claim",
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
        "run_claims",
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
    ),
    "bounds.claims": (
        "CLAIMS",
        "Claim",
        "ClaimResult",
        "Outcome",
        "claim",
        "claim_order",
        "run_claims",
    ),
    "paper_figs": (
        "FIGURES",
        "FigureSpec",
        "ResultStore",
        "SLOW_QUICK_SECONDS",
        "binomial_se",
        "discover_figures",
        "figure_cost",
        "figure_data",
        "get_ax",
        "load_figure",
        "mean_and_ci",
        "new_figure",
        "reproduce",
        "save_figure",
        "set_log_ticks",
    ),
}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_every_all_is_pinned_exactly(name):
    module = importlib.import_module(name)
    assert sorted(module.__all__) == sorted(PINNED[name])
    assert len(module.__all__) == len(set(module.__all__))
    for attr in module.__all__:
        assert hasattr(module, attr), f"{name}.{attr} listed in __all__ but missing"


def test_every_public_module_is_pinned():
    """A package or public subpackage of the library that has an ``__all__`` is in PINNED."""
    found = set()
    for package in PACKAGES:
        for init in (ROOT / package).rglob("__init__.py"):
            parts = init.parent.relative_to(ROOT).parts
            if any(p.startswith("_") or p.startswith("fig_") for p in parts):
                continue
            if "__all__" in init.read_text():
                found.add(".".join(parts))
    assert found <= set(PINNED), found - set(PINNED)
