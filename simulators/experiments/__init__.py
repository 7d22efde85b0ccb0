"""The experiment layer: every experiment is a frozen config plus ``run(key, config) -> metrics``.

A config is a ``jax.tree_util.register_dataclass`` dataclass (array leaves, static sizes, integer
budget leaves); ``run`` is a pure function returning a dict of scalars. :func:`simulators.sweep`
runs any such pair over settings, seeds and budgets in one compiled call per group of settings
and returns a tidy DataFrame. Claims (``bounds.claims``), figures (``paper_figs``), benchmarks and
notebooks call these; a researcher's own experiment is the same two objects in their own file.

Families: :mod:`simulators.experiments.tabular` (SFT-Sharpening, adaptive SFT-Sharpening and the
squared loss of Eq. 8 on tabular instances), :mod:`simulators.experiments.linear` (XPO and the
offline squared loss on linear-softmax instances, scored exactly: claim C9 and the separation
figure), and :mod:`simulators.experiments.label_free` (policy-gradient sharpening with
self-rewards, EM-RL, EM-FT, TTRL and iterated SFT-/RLHF-Sharpening, scored exactly along the
run).
"""

from .label_free import IteratedConfig as IteratedConfig
from .label_free import LabelFreeConfig as LabelFreeConfig
from .label_free import run_iterated as run_iterated
from .label_free import run_label_free as run_label_free
from .linear import LinearDPOConfig as LinearDPOConfig
from .linear import LinearXPOConfig as LinearXPOConfig
from .linear import run_linear_dpo as run_linear_dpo
from .linear import run_linear_xpo as run_linear_xpo
from .linear import squared_loss_mass as squared_loss_mass
from .linear import xpo_iterates as xpo_iterates
from .tabular import AdaptiveSFTConfig as AdaptiveSFTConfig
from .tabular import DPOConfig as DPOConfig
from .tabular import TabularSFTConfig as TabularSFTConfig
from .tabular import run_adaptive_sft as run_adaptive_sft
from .tabular import run_dpo as run_dpo
from .tabular import run_tabular_sft as run_tabular_sft
from .tabular import tabular_sft_exact_law as tabular_sft_exact_law

__all__ = [
    "AdaptiveSFTConfig",
    "DPOConfig",
    "IteratedConfig",
    "LabelFreeConfig",
    "LinearDPOConfig",
    "LinearXPOConfig",
    "TabularSFTConfig",
    "run_adaptive_sft",
    "run_dpo",
    "run_iterated",
    "run_label_free",
    "run_linear_dpo",
    "run_linear_xpo",
    "run_tabular_sft",
    "squared_loss_mass",
    "tabular_sft_exact_law",
    "xpo_iterates",
]
