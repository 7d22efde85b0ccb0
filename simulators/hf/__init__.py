"""The transformer adapter (optional ``hf`` extra): real causal language models as policies."""

import os

# The adapter never downloads: models are local folders, GGUF files or built-ins on disk.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ._policy import HFPolicy as HFPolicy  # noqa: E402
