"""A catalogue of bad and extreme inputs for `sharpen bon`/`sharpen sft`, the transformer adapter
and the files it reads (issue 13, section 5). Each case states the rule it checks.

Command-line cases must end in one line on standard error naming the argument, exit status 2,
no traceback, the model never loaded when the argument can be checked without it, and no output
folder left behind; adapter cases raise ValueError/TypeError naming the argument, or give the
value that sampling implies.
"""

import errno
import json
import os
import shutil
import struct

import jax
import numpy as np
import pytest

pytest.importorskip("torch")

from paper_figs.cli import main  # noqa: E402
from simulators.hf import (  # noqa: E402
    HFPolicy,
    encode_prompts,
    encode_responses,
    load_jsonl,
    rescore,
    sample_rollouts,
    score_texts,
    score_tokens,
    tiny_gpt2,
)
from simulators.hf._files import gguf_metadata, resolve_model_path  # noqa: E402

BON = ["bon", "--model", "tiny-gpt2", "--task", "compare", "--n-max", "2", "--prompts", "2",
       "--max-new-tokens", "4", "--subsamples", "2", "--quiet"]  # fmt: skip


@pytest.fixture(autouse=True)
def _restore_xla_flags(monkeypatch):
    """The command adds its XLA flags to the environment; undo that after each test."""
    monkeypatch.setenv("XLA_FLAGS", os.environ.get("XLA_FLAGS", ""))


@pytest.fixture(scope="module")
def policy():
    import torch

    torch.set_num_threads(1)  # tiny matrices: threads only add overhead on shared cores
    return tiny_gpt2(0, chars="0123456789+=ab ", initializer_range=0.3, max_new_tokens=8,
                     batch_size=8, progress=False)  # fmt: skip


@pytest.fixture(scope="module")
def model_folder(policy, tmp_path_factory):
    folder = tmp_path_factory.mktemp("model")
    policy.model.save_pretrained(folder)
    policy.tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture
def copy(model_folder, tmp_path):
    """A fresh copy of the saved model folder to break."""
    return shutil.copytree(model_folder, tmp_path / "copy")


def refused(capsys, argv, *fragments):
    """Runs the command; it must fail with one line holding every fragment."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


# ---------------------------------------------------------------- command-line arguments


@pytest.mark.parametrize(
    "extra, fragments",
    [
        # 1. an empty --out names nothing
        (["--out", ""], ["--out must name a folder"]),
        # 2. seeds beyond what a JAX key holds (2**63 overflowed inside JAX before)
        (["--seed", str(2**63)], ["--seed must be an integer in [0, 2**63)"]),
        # 3. the same N twice would double-count its subsamples
        (["--ns", "1,1"], ["--ns values must be distinct, got 1 twice"]),
        # 4. an empty --ns is not a list of integers
        (["--ns", ""], ["--ns must be comma-separated integers", "'' is not an integer"]),
        # 5. settings whose draws cannot fit in memory are refused before sampling
        (["--subsamples", str(10**9)], ["--subsamples 1000000000 x --prompts 2", "GiB"]),
        # 6. a response limit that leaves no room for a prompt, from the model's positions
        (["--max-new-tokens", "512"], ["--max-new-tokens", "512 positions"]),
        # 7. --threads 0
        (["--threads", "0"], ["--threads must be an integer >= 1"]),
        # 8. --batch-size below 1
        (["--batch-size", "0"], ["--batch-size must be an integer >= 1"]),
    ],
)
def test_bad_bon_arguments(extra, fragments, tmp_path, capsys, never_load):
    argv = [*BON, "--out", str(tmp_path / "out"), *extra]
    if extra[0] == "--out":
        argv = [*BON, *extra]
    refused(capsys, argv, *fragments)
    assert not (tmp_path / "out").exists()


def test_09_an_out_that_is_a_dangling_symlink_is_refused(tmp_path, capsys, never_load):
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "gone")
    refused(capsys, [*BON, "--out", str(link)], "--out", "is a broken symbolic link")


@pytest.mark.parametrize(
    "make, fragments",
    [
        # 10. a task file that does not exist
        (lambda d: d / "missing.jsonl", ["--task: path must be an existing JSON-lines file"]),
        # 11. a folder named like a task file
        (lambda d: (d / "dir.jsonl").mkdir() or d / "dir.jsonl", ["existing JSON-lines file"]),
        # 12. an empty task file (the first record is the worked example: two are needed)
        (lambda d: (d / "e.jsonl").write_text("\n\n") and d / "e.jsonl", ["at least 2 records"]),
    ],
)
def test_bad_task_paths(make, fragments, tmp_path, capsys, never_load):
    refused(capsys, [*BON, "--task", str(make(tmp_path)), "--out", str(tmp_path / "o")], *fragments)
    assert not (tmp_path / "o").exists()


def test_13_a_line_separator_inside_a_question_does_not_split_the_record(tmp_path):
    # JSON allows a raw U+2028 in a string; str.splitlines would cut the record in two.
    path = tmp_path / "t.jsonl"
    records = [{"question": "a\u2028b?", "answer": "#### 1"}, {"question": "c?", "answer": "2"}]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records), "utf-8")
    task = load_jsonl(str(path), example=None)
    assert task.questions == ("a\u2028b?", "c?") and task.answers == ("1", "2")


# ---------------------------------------------------------------- model paths


def _only_gguf(d, gguf_bytes):
    (d / "m").mkdir()
    (d / "m" / "model.gguf").write_bytes(gguf_bytes)
    return d / "m"


@pytest.mark.parametrize(
    "case, fragments",
    [
        # 14. a path that is neither a built-in, a folder nor a .gguf file
        ("missing", ["is none of these (nothing is downloaded)"]),
        # 15. a folder whose name ends in .gguf
        ("gguf_dir", ["is a folder, not a file"]),
        # 16. a folder holding only a .gguf: point at the file
        ("only_gguf", ["has no config.json", "pass that file itself"]),
        # 17. a LoRA adapter folder is not a model
        ("adapter", ["has no config.json", "LoRA adapter"]),
        # 18. config.json holding a JSON array
        ("config_array", ["config.json must hold a JSON object, got list"]),
        # 19. config.json without model_type
        ("no_model_type", ["names no model_type"]),
        # 20. a sharded index listing a shard that is not there
        ("missing_shard", ["lists the shard model-00002.safetensors, which does not exist"]),
        # 21. a safetensors header claiming more bytes than the file has
        ("bad_header", ["its header claims"]),
        # 22. a torch zip archive cut short
        ("cut_zip", ["truncated or corrupt zip"]),
        # 23. an empty GGUF file
        ("empty_gguf", ["is not a valid GGUF file: only 0 bytes"]),
    ],
)
def test_bad_model_paths(case, fragments, copy, tmp_path, capsys, never_load):
    if case == "missing":
        path = tmp_path / "nothing-here"
    elif case == "gguf_dir":
        path = tmp_path / "x.gguf"
        path.mkdir()
    elif case == "only_gguf":
        path = _only_gguf(tmp_path, b"GGUF")
    elif case == "adapter":
        path = tmp_path / "adapter"
        path.mkdir()
        (path / "adapter_config.json").write_text("{}")
    elif case == "config_array":
        path = copy
        (path / "config.json").write_text("[1, 2]")
    elif case == "no_model_type":
        path = copy
        config = json.loads((path / "config.json").read_text())
        del config["model_type"]
        (path / "config.json").write_text(json.dumps(config))
    elif case == "missing_shard":
        path = copy
        (path / "model.safetensors").rename(path / "model-00001.safetensors")
        index = {"weight_map": {"a": "model-00001.safetensors", "b": "model-00002.safetensors"}}
        (path / "model.safetensors.index.json").write_text(json.dumps(index))
    elif case == "bad_header":
        path = copy
        weights = path / "model.safetensors"
        weights.write_bytes(struct.pack("<Q", 10**12) + weights.read_bytes()[8:])
    elif case == "cut_zip":
        path = copy
        (path / "model.safetensors").unlink()
        import torch

        torch.save({"w": torch.zeros(1000)}, path / "pytorch_model.bin")
        data = (path / "pytorch_model.bin").read_bytes()
        (path / "pytorch_model.bin").write_bytes(data[: len(data) // 2])
    else:
        path = tmp_path / "empty.gguf"
        path.write_bytes(b"")
    refused(capsys, [*BON[:1], "--model", str(path), *BON[3:], "--out", str(tmp_path / "o")],
            "--model", *fragments)  # fmt: skip
    assert not (tmp_path / "o").exists()


def test_24_a_gguf_without_tensors_is_not_a_model(tmp_path):
    gguf = pytest.importorskip("gguf")
    path = tmp_path / "none.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(ValueError, match="holds no tensors"):
        gguf_metadata(str(path))


def test_25_a_path_object_and_a_trailing_slash_name_the_same_folder(model_folder):
    assert resolve_model_path(model_folder) == (str(model_folder), None)
    assert HFPolicy.from_pretrained(f"{model_folder}/", device="cpu").eos_token_ids == (0,)
    with pytest.raises(TypeError, match="path_or_builtin must be a built-in model name"):
        resolve_model_path(3)


# ---------------------------------------------------------------- runs that stop part way


def test_26_an_interrupted_run_leaves_no_empty_folder_and_is_not_swallowed(tmp_path, monkeypatch):
    from paper_figs.real_models import bon as _cli

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(_cli, "load_policy", interrupted)
    out = tmp_path / "a" / "b"
    with pytest.raises(KeyboardInterrupt):
        main([*BON, "--out", str(out)])
    assert not (tmp_path / "a").exists()


def test_27_prompts_too_long_for_the_response_limit_fail_before_sampling(
    tmp_path, capsys, monkeypatch
):
    # The exact bound needs the tokenized prompts (after loading); it still comes before any
    # sampling, and the folder made for the run goes again.
    from simulators.hf import _decoding

    def never(*args, **kwargs):
        raise AssertionError("sampled although the prompts do not fit")

    monkeypatch.setattr(_decoding, "decode_tokens", never)
    out = tmp_path / "o"
    refused(capsys, [*BON, "--out", str(out), "--max-new-tokens", "500"],
            "max_new_tokens=500 plus the longest prompt", "512 positions")  # fmt: skip
    assert not out.exists()


def test_28_a_disk_error_while_writing_results_is_one_line(tmp_path, capsys, monkeypatch):
    from paper_figs.real_models import plots as _plots

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "o" / "x.png"))

    monkeypatch.setattr(_plots, "save_protocol_figures", full)
    refused(capsys, [*BON, "--out", str(tmp_path / "o")], "No space left on device", "x.png")
    assert (tmp_path / "o" / "bon.csv").is_file()  # what was written stays


def test_29_n_max_1100_runs_to_the_end(tmp_path):
    # C(1100, 550) overflows float64: the exact subset weights used to crash after sampling.
    out = tmp_path / "o"
    argv = ["bon", "--model", "tiny-gpt2", "--task", "compare", "--n-max", "1100", "--prompts",
            "1", "--max-new-tokens", "1", "--subsamples", "1", "--ns", "1,550,1100",
            "--batch-size", "256", "--out", str(out), "--quiet"]  # fmt: skip
    assert main(argv) == 0
    exact = json.loads((out / "run.json").read_text())
    assert exact["n_max"] == 1100
    import pandas as pd

    table = pd.read_csv(out / "bon_exact.csv")
    assert set(table["N"]) == {1, 550, 1100}
    # every value finite (lift_pct is NaN by definition when greedy decoding scores 0)
    assert np.isfinite(table.loc[table["metric"] != "lift_pct", "value"]).all()


# ---------------------------------------------------------------- the adapter's scoring


def test_30_responses_of_only_eos_ids(policy):
    # [EOS] is the empty response, complete; [EOS, EOS] continues after stopping: impossible.
    x = encode_prompts(policy, "12=")
    got = score_tokens(policy, x * 2, [[0], [0, 0]], stats=False)["logp"]
    np.testing.assert_allclose(got[0], score_texts(policy, "12=", "")[0], atol=1e-5)
    assert got[1] == -np.inf


def test_31_a_second_eos_id_ends_a_string_too(policy):
    # With two EOS ids, a string ending with the second one's text is complete as it is.
    a = policy.tokenizer.convert_tokens_to_ids("a")
    two = HFPolicy.from_model(policy.model, policy.tokenizer, eos_token_ids=(0, a), progress=False)
    assert encode_responses(two, "12a") == [encode_responses(two, "12a", add_eos=False)[0]]
    assert encode_responses(two, "12")[0][-1] == 0
    assert score_texts(two, "1=", "a2")[0] == -np.inf  # "a" is a stop: nothing may follow


def test_32_rescoring_under_a_policy_that_stops_earlier_gives_minus_inf(policy):
    # Draws from a one-EOS policy rescored by a policy that also stops at "1": a draw with a
    # "1" before its end could never come from the second policy.
    r = sample_rollouts(jax.random.key(2), policy, ["1+1="], 32)
    one = policy.tokenizer.convert_tokens_to_ids("1")
    other = HFPolicy.from_model(
        policy.model, policy.tokenizer, eos_token_ids=(0, one), progress=False
    )
    got = np.asarray(rescore(other, ["1+1="], r).logp_base)[0]
    tokens, lengths = np.asarray(r.tokens)[0], np.asarray(r.lengths)[0]
    early = np.array([one in tokens[n, : lengths[n] - 1].tolist() for n in range(32)])
    assert early.any() and (~early).any()
    assert (got[early] == -np.inf).all() and np.isfinite(got[~early]).all()


def test_33_response_lists_that_are_not_strings(policy):
    with pytest.raises(TypeError, match="responses must be a string or a list of strings"):
        score_texts(policy, ["1="], [3])
    with pytest.raises(ValueError, match="same length"):
        score_texts(policy, ["1=", "2="], ["a"])
