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

    @pytest.fixture(scope="session")
    def tiny_folder(tiny, tmp_path_factory):
        """The tiny GPT-2 saved as a Hugging Face model folder (config, safetensors, tokenizer)."""
        folder = tmp_path_factory.mktemp("tiny_model")
        tiny.model.save_pretrained(folder)
        tiny.tokenizer.save_pretrained(folder)
        return folder


@pytest.fixture
def small_gguf(tmp_path):
    """A small valid GGUF file (llama metadata, context length 64, one float32 tensor; 16 KB)
    to cut and corrupt. It is not a loadable model: it tests the checks made before loading."""
    gguf = pytest.importorskip("gguf")
    import numpy as np

    path = tmp_path / "small.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_context_length(64)
    writer.add_tensor("token_embd.weight", np.arange(4000, dtype=np.float32).reshape(40, 100))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
