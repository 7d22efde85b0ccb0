"""The paper's numerically checkable claims C1..C14, as a registry of executable checks.

Importing this package registers every claim: it imports the registry, then each family module
below, whose :func:`claim` decorators fill ``CLAIMS``. The families follow the paper's sections:

* :mod:`.best_of_n`: inference-time best-of-N (Sec. 3, Prop. C.1, Assumption 4.1): C1, C2;
* :mod:`.decoding`: greedy decoding and what a model class can represent (Prop. 3.1, App. E):
  C6, C10, C14;
* :mod:`.lower_bound`: the lower bound on its hard instance (Sec. 3.2, Thm 3.1, App. D, H): C4;
* :mod:`.sft`: SFT-Sharpening's sample complexity, adaptive sampling, and the squared loss against
  the margin (Sec. 4.1, 4.2, Thm 4.1, D.1, 4.2): C3, C5, C8, which share one compiled sweep and
  one family of settings;
* :mod:`.mle`: the MLE guarantee behind the analysis (Lemma F.1): C11;
* :mod:`.rlhf`: the KL-regularized objective (Eq. 3, Lemma 4.1): C7;
* :mod:`.linear`: exploration against coverage (Sec. 4.3, Example J.1, Thm 4.3): C9;
* :mod:`.self_rewards`: length bias and majority vote as self-rewards (App. A.1, A.2): C12, C13;
* :mod:`.power`: power sampling toward pi*_beta at inference time (Eq. 3; issue 16): P1-P4;
* :mod:`.label_free`: label-free self-training beyond SFT and DPO (issue 17): the limit of
  policy-gradient sharpening, iterated RLHF-Sharpening's closed form, TTRL's fixed point: L1-L3.

Shared statistics and grid helpers are in :mod:`._stats`. A claim is a function
``check(settings) -> Outcome`` registered with :func:`claim`, with ``quick`` and ``full`` settings
(instances of one frozen dataclass) and ``timeout_s`` (quick, full); a researcher's module
registers its own claims with the same decorator, and ``run_claims`` runs them with the rest.
"""

from ._registry import CLAIMS as CLAIMS
from ._registry import Claim as Claim
from ._registry import ClaimResult as ClaimResult
from ._registry import Outcome as Outcome
from ._registry import claim as claim
from ._registry import claim_order as claim_order
from ._registry import run_claims as run_claims

# Each import registers the claims of one family (the order of CLAIMS is by id, not by import).
from . import best_of_n as best_of_n  # noqa: E402  isort: skip
from . import decoding as decoding  # noqa: E402  isort: skip
from . import lower_bound as lower_bound  # noqa: E402  isort: skip
from . import sft as sft  # noqa: E402  isort: skip
from . import mle as mle  # noqa: E402  isort: skip
from . import rlhf as rlhf  # noqa: E402  isort: skip
from . import linear as linear  # noqa: E402  isort: skip
from . import self_rewards as self_rewards  # noqa: E402  isort: skip
from . import power as power  # noqa: E402  isort: skip
from . import label_free as label_free  # noqa: E402  isort: skip

__all__ = ["CLAIMS", "Claim", "ClaimResult", "Outcome", "claim", "claim_order", "run_claims"]
