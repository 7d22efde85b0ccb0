"""The transformer adapter (optional ``hf`` extra): real causal language models as policies.

:class:`HFPolicy` registers with the generic ``simulators.sample``, ``simulators.log_prob`` and
``simulators.greedy``, and produces :class:`~simulators.Rollouts`, so every estimator of the toolkit
(self-rewards, best-of-N, the inference-time protocol of ``simulators._protocol``) runs unchanged on
a real model. Tasks give prompts and answer checking; the learners fit LoRA adapters for
SFT-Sharpening, squared-loss RLHF-Sharpening (Eq. 8) and XPO (Algorithm 1); TRL's GRPO
and RLOO trainers run online RL with any registered self-reward (:func:`grpo_sharpening`,
:func:`rloo_sharpening`).
:class:`VLLMPolicy` is the same policy served by a vLLM engine (its own process and environment,
``make vllm``), for sampling at the paper's protocol sizes.

torch, transformers and peft are imported here and only here (``import simulators`` never does);
trl and datasets only when GRPO runs.
"""

import os

# The adapter never downloads: models are local folders, GGUF files or built-ins on disk.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ._decoding import greedy_rollouts as greedy_rollouts  # noqa: E402
from ._decoding import sample_rollouts as sample_rollouts  # noqa: E402
from ._encoding import decode as decode  # noqa: E402
from ._encoding import encode_prompts as encode_prompts  # noqa: E402
from ._encoding import encode_responses as encode_responses  # noqa: E402
from ._files import BUILTIN_MODELS as BUILTIN_MODELS  # noqa: E402
from ._files import model_context_length as model_context_length  # noqa: E402
from ._files import resolve_model_path as resolve_model_path  # noqa: E402
from ._loading import resolve_device as resolve_device  # noqa: E402
from ._loading import resolve_dtype as resolve_dtype  # noqa: E402
from ._policy import TINY_GPT2_POSITIONS as TINY_GPT2_POSITIONS  # noqa: E402
from ._policy import HFPolicy as HFPolicy  # noqa: E402
from ._policy import base_model as base_model  # noqa: E402
from ._policy import tiny_gpt2 as tiny_gpt2  # noqa: E402
from ._prefix import PromptedPolicy as PromptedPolicy  # noqa: E402
from ._scoring import rescore as rescore  # noqa: E402
from ._scoring import score_texts as score_texts  # noqa: E402
from ._scoring import score_tokens as score_tokens  # noqa: E402
from ._tasks import BUILTIN_TASKS as BUILTIN_TASKS  # noqa: E402
from ._tasks import Task as Task  # noqa: E402
from ._tasks import answers_match as answers_match  # noqa: E402
from ._tasks import arithmetic as arithmetic  # noqa: E402
from ._tasks import compare as compare  # noqa: E402
from ._tasks import extract_final_answer as extract_final_answer  # noqa: E402
from ._tasks import extract_first_number as extract_first_number  # noqa: E402
from ._tasks import extract_true_false as extract_true_false  # noqa: E402
from ._tasks import format_prompt as format_prompt  # noqa: E402
from ._tasks import get_task as get_task  # noqa: E402
from ._tasks import gold_answer as gold_answer  # noqa: E402
from ._tasks import grade as grade  # noqa: E402
from ._tasks import label_rollouts as label_rollouts  # noqa: E402
from ._tasks import load_jsonl as load_jsonl  # noqa: E402
from ._tasks import logic as logic  # noqa: E402
from ._tasks import normalize_answer as normalize_answer  # noqa: E402
from ._tasks import subset as subset  # noqa: E402
from ._tasks import task_prompts as task_prompts  # noqa: E402
from ._train import TrainConfig as TrainConfig  # noqa: E402
from ._train import add_lora as add_lora  # noqa: E402
from ._train import evaluate as evaluate  # noqa: E402
from ._train import rlhf_sharpening as rlhf_sharpening  # noqa: E402
from ._train import sequence_log_probs as sequence_log_probs  # noqa: E402
from ._train import sft_sharpening as sft_sharpening  # noqa: E402
from ._train import xpo_sharpening as xpo_sharpening  # noqa: E402
from ._trl import TRLReward as TRLReward  # noqa: E402
from ._trl import as_trl_reward as as_trl_reward  # noqa: E402
from ._trl import grpo_sharpening as grpo_sharpening  # noqa: E402
from ._trl import rloo_sharpening as rloo_sharpening  # noqa: E402
from ._trl import trl_dataset as trl_dataset  # noqa: E402
from ._vllm import VLLMPolicy as VLLMPolicy  # noqa: E402
from ._vllm import add_token_stats as add_token_stats  # noqa: E402
from ._vllm import vllm_greedy_rollouts as vllm_greedy_rollouts  # noqa: E402
from ._vllm import vllm_sample_rollouts as vllm_sample_rollouts  # noqa: E402
from ._vllm import vllm_score_texts as vllm_score_texts  # noqa: E402
from ._vllm import vllm_score_tokens as vllm_score_tokens  # noqa: E402
from ._vllm_engine import VLLMUnavailable as VLLMUnavailable  # noqa: E402
from ._vllm_engine import engine_model_folder as engine_model_folder  # noqa: E402
from ._vllm_engine import engine_python as engine_python  # noqa: E402
from ._vllm_engine import vllm_unavailable_reason as vllm_unavailable_reason  # noqa: E402

__all__ = [
    "BUILTIN_MODELS",
    "BUILTIN_TASKS",
    "TINY_GPT2_POSITIONS",
    "HFPolicy",
    "PromptedPolicy",
    "Task",
    "TRLReward",
    "TrainConfig",
    "VLLMPolicy",
    "VLLMUnavailable",
    "add_lora",
    "add_token_stats",
    "answers_match",
    "arithmetic",
    "as_trl_reward",
    "base_model",
    "compare",
    "decode",
    "encode_prompts",
    "encode_responses",
    "engine_model_folder",
    "engine_python",
    "evaluate",
    "extract_final_answer",
    "extract_first_number",
    "extract_true_false",
    "format_prompt",
    "get_task",
    "gold_answer",
    "grade",
    "greedy_rollouts",
    "grpo_sharpening",
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
    "rloo_sharpening",
    "sample_rollouts",
    "score_texts",
    "score_tokens",
    "sequence_log_probs",
    "sft_sharpening",
    "subset",
    "task_prompts",
    "tiny_gpt2",
    "trl_dataset",
    "vllm_greedy_rollouts",
    "vllm_sample_rollouts",
    "vllm_score_texts",
    "vllm_score_tokens",
    "vllm_unavailable_reason",
    "xpo_sharpening",
]
