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

    from paper_figs.real_models import bon as _cli

    def never(*args, **kwargs):
        raise AssertionError("the model was loaded before the arguments were checked")

    monkeypatch.setattr(_cli, "load_policy", never)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main([*BON, "--out", str(tmp_path / "bon"), *extra]) == 2
    assert message in capsys.readouterr().err


def test_sft_checks_the_device_before_loading_the_model(tmp_path, monkeypatch, capsys):
    import torch

    from paper_figs.real_models import sft as _cli_train

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

    from paper_figs.real_models.bon import load_policy

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


SFT = ["sft", "--model", "tiny-gpt2", "--task", "arithmetic", "--prompts", "2", "--n", "2",
       "--epochs", "1", "--eval-n", "1", "--max-new-tokens", "4", "--lora-rank", "2",
       "--quiet"]  # fmt: skip


def one_line_error(capsys, *fragments):
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("command", [BON, SFT])
def test_an_unwritable_out_is_a_one_line_error_before_any_work(
    command, tmp_path, capsys, never_load
):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert main([*command, "--out", str(blocker / "sub")]) == 2
    one_line_error(capsys, "--out", "is a file, not a folder")
    assert main([*command, "--out", str(blocker)]) == 2
    one_line_error(capsys, "--out", "exists and is not a folder")
    assert blocker.read_text() == ""


def test_an_out_folder_the_probe_cannot_write_is_refused_and_removed(
    tmp_path, capsys, monkeypatch, never_load
):
    # os.access cannot see every refusal (read-only mounts, quotas, or root, as here): a
    # probe file is written before the model is loaded.
    import tempfile

    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "TemporaryFile", refused)
    out = tmp_path / "new" / "out"
    assert main([*BON, "--out", str(out)]) == 2
    one_line_error(capsys, "--out", "is not writable: Permission denied")
    assert not (tmp_path / "new").exists()


def test_sharpen_sft_grpo_trains_with_a_self_reward_through_trl(tmp_path):
    out = str(tmp_path / "grpo")
    rc = main(
        ["sft", "--model", "tiny-gpt2", "--task", "arithmetic", "--method", "grpo", "--prompts",
         "2", "--reward", "log_likelihood,majority", "--group-size", "2", "--beta", "0",
         "--epochs", "1", "--train-batch-size", "1", "--eval-n", "1", "--max-new-tokens", "4",
         "--lora-rank", "2", "--out", out, "--quiet"]
    )  # fmt: skip
    assert rc == 0
    metrics = pd.read_csv(os.path.join(out, "metrics.csv"))
    assert set(metrics["method"]) == {"base", "grpo"}
    grpo = metrics[metrics["method"] == "grpo"].set_index("metric")["value"]
    assert grpo["queries"] == 2 * 2  # two prompts, a group of two each
    assert {"likelihood_lift", "sample_accuracy_change"} <= set(grpo.index)
    history = pd.read_csv(os.path.join(out, "history.csv"))
    assert len(history) == 2 and {"reward", "rewards_majority_mean", "loss"} <= set(history)
    assert os.path.getsize(os.path.join(out, "training_loss.png")) > 0


def test_sharpen_sft_rloo_takes_a_researchers_reward_from_their_module(tmp_path, monkeypatch):
    import simulators

    registry = dict(simulators._rewards.REWARDS)  # the registration stays in this test
    monkeypatch.setattr(simulators._rewards, "REWARDS", registry)
    (tmp_path / "my_rewards_cli.py").write_text(
        "import simulators\n\n\n"
        "@simulators.register_reward('test_length_price', per_draw=True)\n"
        "def price(rollouts):\n"
        "    return rollouts.logp_base - 0.5 * rollouts.lengths\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    out = str(tmp_path / "rloo")
    rc = main(
        ["sft", "--model", "tiny-gpt2", "--task", "arithmetic", "--method", "rloo", "--prompts",
         "2", "--reward", "my_rewards_cli:test_length_price", "--group-size", "2", "--epochs",
         "1", "--train-batch-size", "2", "--eval-n", "1", "--max-new-tokens", "4",
         "--lora-rank", "2", "--out", out, "--quiet"]
    )  # fmt: skip
    assert rc == 0
    history = pd.read_csv(os.path.join(out, "history.csv"))
    assert "rewards_test_length_price_mean" in history


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--beta", "0"], "--beta must be a finite number > 0, got 0.0"),
        (["--beta", "nan"], "--beta must be a finite number > 0, got nan"),
        (["--lr=-1e-4"], "--lr must be a finite number > 0"),
        (["--lr", "inf"], "--lr must be a finite number > 0, got inf"),
        (["--lora-alpha", "0"], "--lora-alpha must be a finite number > 0"),
        (["--max-grad-norm", "0"], "--max-grad-norm must be a finite number > 0"),
        (["--weight-decay=-0.1"], "--weight-decay must be a finite number >= 0"),
        (["--alpha=-1"], "--alpha must be a finite number >= 0"),
        (["--heldout=-1"], "--heldout must be an integer >= 0"),
        (["--seed=-1"], "--seed must be an integer in [0, 2**63)"),
        (["--rounds", "0"], "--rounds must be an integer >= 1"),
        (["--eval-n", "0"], "--eval-n must be an integer >= 1"),
        (["--max-new-tokens", "512"], "exceeds the model's 512 positions"),
        (["--method", "grpo", "--group-size", "1"], "--group-size must be an integer >= 2, got 1"),
        (["--method", "grpo", "--reward", "log_likelihood,x"], "--reward must be registered"),
        (["--method", "grpo", "--beta=-0.5"], "--beta must be a finite number >= 0, got -0.5"),
        (["--method", "rloo", "--reward", "no_such_module:x"], "cannot import no_such_module"),
        (["--method", "rloo", "--reward", "json:x"], "--reward must be registered"),
    ],
)
def test_sft_refuses_every_bad_argument_before_loading_and_leaves_no_folder(
    extra, message, tmp_path, capsys, never_load
):
    out = tmp_path / "sft"
    assert main([*SFT, "--out", str(out), *extra]) == 2
    one_line_error(capsys, message)
    assert not out.exists()


def test_a_run_that_fails_after_creating_its_folder_removes_it_but_never_a_folder_it_found(
    tmp_path, capsys
):
    # --chat yes on a tokenizer without a chat template fails after the model is loaded
    out = tmp_path / "deep" / "bon"
    assert main([*BON, "--out", str(out), "--chat", "yes"]) == 2
    one_line_error(capsys, "--chat yes", "no chat template")
    assert not (tmp_path / "deep").exists()
    existing = tmp_path / "mine"
    existing.mkdir()
    assert main([*BON, "--out", str(existing), "--chat", "yes"]) == 2
    assert existing.is_dir()


def test_a_task_file_with_too_few_questions_is_refused_before_the_folder_is_made(
    tmp_path, capsys, never_load
):
    path = tmp_path / "three.jsonl"
    path.write_text(
        "\n".join(
            json.dumps({"question": f"{i}+{i}?", "answer": f"#### {2 * i}"}) for i in range(3)
        )
    )
    out = tmp_path / "bon"
    assert main([*BON, "--task", str(path), "--out", str(out), "--prompts", "5"]) == 2
    one_line_error(capsys, "--prompts 5 exceeds the task's 2 questions")
    assert not out.exists()
    assert main([*SFT, "--task", str(path), "--out", str(out), "--heldout", "1"]) == 2
    one_line_error(capsys, "--prompts + --heldout = 3 exceeds the task's 2 questions")
    assert not out.exists()


def test_a_bad_task_line_and_a_bad_model_path_are_one_line_errors(tmp_path, capsys, never_load):
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'{"question": "a", "answer": "b"}\n{"question": 1, "answer": "2"}\n')
    assert main([*BON, "--task", str(path), "--out", str(tmp_path / "o")]) == 2
    one_line_error(capsys, "--task", "t.jsonl, line 2: field 'question' must be a string")
    empty = tmp_path / "empty_model"
    empty.mkdir()
    assert main([*BON[:1], "--model", str(empty), *BON[3:], "--out", str(tmp_path / "o")]) == 2
    one_line_error(capsys, "--model", "has no config.json", "the folder is empty")
    assert not (tmp_path / "o").exists()


def test_a_model_folder_runs_end_to_end(tiny_folder, tmp_path):
    out = tmp_path / "bon"
    assert main([*BON[:1], "--model", str(tiny_folder), *BON[3:], "--out", str(out)]) == 0
    assert (out / "run.json").is_file()
