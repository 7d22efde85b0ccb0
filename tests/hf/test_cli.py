"""`sharpen bon` and `sharpen sft` end to end on the tiny random GPT-2 (smoke runs)."""

import json
import os

import pandas as pd
import pytest

pytest.importorskip("torch")

from paper_figs.cli import main  # noqa: E402


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
