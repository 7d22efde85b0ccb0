"""`sharpen bon` and `sharpen sft` end to end on the tiny random GPT-2 (smoke runs)."""

import json
import os

import pandas as pd
import pytest

pytest.importorskip("torch")

from paper_figs.cli import main  # noqa: E402

BON = ["bon", "--model", "tiny-gpt2", "--task", "compare", "--n-max", "2", "--prompts", "2",
       "--max-new-tokens", "4", "--subsamples", "2", "--quiet"]  # fmt: skip


@pytest.fixture(autouse=True)
def _restore_xla_flags(monkeypatch):
    """The command adds its XLA flags to the environment; undo that after each test."""
    monkeypatch.setenv("XLA_FLAGS", os.environ.get("XLA_FLAGS", ""))


def test_sharpen_bon_writes_tables_and_figures(tmp_path, capsys):
    out = str(tmp_path / "bon")
    rc = main(
        ["bon", "--model", "tiny-gpt2", "--task", "compare", "--n-max", "2", "--prompts", "3",
         "--max-new-tokens", "6", "--subsamples", "2", "--out", out, "--quiet"]
    )  # fmt: skip
    assert rc == 0
    for name in ("bon", "bon_mean", "bon_exact", "summary", "samples", "likelihood", "greedy"):
        assert os.path.getsize(os.path.join(out, f"{name}.csv")) > 0
    for name in ("lift_vs_n", "loglik_vs_n", "loglik_hist"):
        assert os.path.getsize(os.path.join(out, f"{name}.png")) > 0
    bon = pd.read_csv(os.path.join(out, "bon.csv"))
    assert list(bon.columns) == ["reward", "N", "subsample", "metric", "value"]
    assert sorted(bon["N"].unique()) == [1, 2]
    assert {"log_likelihood", "length_normalized", "majority"} <= set(bon["reward"])
    samples = pd.read_csv(os.path.join(out, "samples.csv"))
    assert len(samples) == 3 * 2 and {"text", "logp", "correct", "question"} <= set(samples.columns)
    run = json.load(open(os.path.join(out, "run.json")))
    assert run["n_max"] == 2 and run["sampled_tokens"] > 0
    assert "tiny-gpt2 on compare" in capsys.readouterr().out


def test_sharpen_sft_trains_and_evaluates(tmp_path):
    out = str(tmp_path / "sft")
    rc = main(
        ["sft", "--model", "tiny-gpt2", "--task", "arithmetic", "--method", "sft", "--prompts",
         "2", "--heldout", "1", "--n", "2", "--epochs", "1", "--eval-n", "1",
         "--max-new-tokens", "4", "--lora-rank", "2", "--out", out, "--quiet"]
    )  # fmt: skip
    assert rc == 0
    metrics = pd.read_csv(os.path.join(out, "metrics.csv"))
    assert set(metrics["method"]) == {"base", "base_bon", "sft"}
    assert set(metrics["split"]) == {"train", "heldout"}
    assert "likelihood_lift" in set(metrics["metric"])
    assert os.path.getsize(os.path.join(out, "training_loss.png")) > 0


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--ns", "1,x"], "--ns must be comma-separated integers"),
        (["--ns", "1,4"], "--ns values must lie between 1 and --n-max=2"),
        (["--subsamples", "0"], "--subsamples must be an integer >= 1"),
        (["--n-max", "0"], "--n-max must be an integer >= 1"),
        (["--prompts", "0"], "--prompts must be an integer >= 1"),
        (["--device", "cuda"], "--device: device 'cuda' asked for, but CUDA is not available"),
        (["--device", "gpu0"], "--device: device must be"),
        (["--dtype", "int8"], "--dtype: dtype must be a floating torch dtype"),
    ],
)
def test_bon_checks_arguments_before_loading_the_model(
    extra, message, tmp_path, monkeypatch, capsys
):
    import torch

    from simulators.hf import _cli

    def never(*args, **kwargs):
        raise AssertionError("the model was loaded before the arguments were checked")

    monkeypatch.setattr(_cli, "load_policy", never)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main([*BON, "--out", str(tmp_path / "bon"), *extra]) == 2
    assert message in capsys.readouterr().err


def test_sft_checks_the_device_before_loading_the_model(tmp_path, monkeypatch, capsys):
    import torch

    from simulators.hf import _cli_train

    def never(*args, **kwargs):
        raise AssertionError("the model was loaded before the device was checked")

    monkeypatch.setattr(_cli_train, "load_policy", never)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    rc = main(["sft", "--model", "tiny-gpt2", "--device", "cuda", "--out", str(tmp_path)])
    assert rc == 2 and "--device" in capsys.readouterr().err


def test_a_response_limit_beyond_the_model_is_a_clear_error(tmp_path, capsys):
    # the tiny GPT-2 has 512 positions
    rc = main([*BON, "--out", str(tmp_path / "bon"), "--max-new-tokens", "2000"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "max_new_tokens=2000" in err and "512 positions" in err


def test_tiny_model_honours_device_and_dtype_and_run_json_records_them(tmp_path):
    import argparse

    import torch

    from simulators.hf._cli import load_policy

    args = argparse.Namespace(
        model="tiny-gpt2", seed=0, chat="auto", quiet=True, device="cpu", dtype="bf16"
    )
    policy = load_policy(args)
    assert policy.dtype == torch.bfloat16 and policy.device == "cpu"
    assert {p.dtype for p in policy.model.parameters()} == {torch.bfloat16}
    out = str(tmp_path / "bon")
    assert main([*BON, "--out", out, "--device", "cpu", "--dtype", "bf16"]) == 0
    run = json.load(open(os.path.join(out, "run.json")))
    assert run["device"] == "cpu" and run["dtype"] == "torch.bfloat16"


@pytest.mark.parametrize("command", ["bon", "sft"])
def test_device_and_dtype_help_name_the_accepted_values(command):
    import argparse
    import importlib

    from paper_figs.cli import SUBCOMMANDS

    parser = argparse.ArgumentParser()
    importlib.import_module(SUBCOMMANDS[command][0]).add_arguments(parser)
    helps = {a.dest: a.help or "" for a in parser._actions}
    for alias in ("fp32", "bf16", "fp16"):
        assert alias in helps["dtype"]
    assert "cpu" in helps["device"] and "cuda" in helps["device"]
