"""Shared fixtures of the adapter tests: a tiny random GPT-2 with a character tokenizer."""

import importlib.util

import pytest

if importlib.util.find_spec("torch") is not None:

    @pytest.fixture(scope="session")
    def tiny():
        """A 2-layer GPT-2 over 17 tokens: EOS has probability ~1/17 per step, so short
        responses both stop and run to the length limit."""
        import torch

        torch.set_num_threads(1)  # tiny matrices: threads only add overhead on shared cores
        from simulators.hf import tiny_gpt2

        return tiny_gpt2(
            0,
            chars="0123456789+=ab ",
            n_layer=2,
            n_embd=32,
            n_head=2,
            initializer_range=0.3,
            max_new_tokens=12,
            batch_size=8,
            progress=False,
        )
