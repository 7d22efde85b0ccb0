"""Model paths are checked on disk before loading, and a model folder's own code never runs."""

import ast
import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

pytest.importorskip("torch")

from simulators.hf import HFPolicy  # noqa: E402
from simulators.hf._files import gguf_metadata, model_context_length, resolve_model_path  # noqa: E402

HF = pathlib.Path(__file__).resolve().parents[2] / "simulators" / "hf"

# A module that leaves a marker file next to itself when imported: proof that code ran.
EVIL_MODULE = """
import pathlib
pathlib.Path(__file__).with_name("MARKER").write_text("the folder's code ran")
from transformers import GPT2Config, GPT2LMHeadModel


class EvilConfig(GPT2Config):
    model_type = "evil"


class EvilModel(GPT2LMHeadModel):
    config_class = EvilConfig
"""


def copy_folder(src, dst):
    shutil.copytree(src, dst)
    return dst


def edit_json(path, **changes):
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


@pytest.fixture
def evil_folder(tiny_folder, tmp_path):
    """A complete model folder whose config asks transformers to import its evil_model.py."""
    folder = copy_folder(tiny_folder, tmp_path / "evil")
    (folder / "evil_model.py").write_text(EVIL_MODULE)
    edit_json(
        folder / "config.json",
        model_type="evil",
        auto_map={
            "AutoConfig": "evil_model.EvilConfig",
            "AutoModelForCausalLM": "evil_model.EvilModel",
        },
    )
    return folder


# ---------------------------------------------------------------- what is wrong with a path


def test_a_complete_folder_resolves_and_loads(tiny_folder, tiny):
    assert resolve_model_path(str(tiny_folder)) == (str(tiny_folder), None)
    assert model_context_length(str(tiny_folder), None) == tiny.model.config.n_positions
    policy = HFPolicy.from_pretrained(str(tiny_folder), device="cpu", progress=False)
    assert policy.eos_token_ids == tiny.eos_token_ids


def test_an_empty_folder_says_it_has_no_config_not_install_sentencepiece(tmp_path):
    with pytest.raises(ValueError, match=r"has no config\.json.*the folder is empty") as err:
        HFPolicy.from_pretrained(str(tmp_path), device="cpu")
    assert "sentencepiece" not in str(err.value)


def test_a_folder_without_weights_or_tokenizer_names_what_is_missing(tiny_folder, tmp_path):
    folder = copy_folder(tiny_folder, tmp_path / "m")
    (folder / "tokenizer.json").unlink()
    with pytest.raises(ValueError, match="has no tokenizer files"):
        resolve_model_path(str(folder))
    (folder / "model.safetensors").unlink()
    with pytest.raises(ValueError, match=r"has no weights: expected one of model\.safetensors"):
        resolve_model_path(str(folder))


def test_a_truncated_safetensors_file_is_named(tiny_folder, tmp_path):
    folder = copy_folder(tiny_folder, tmp_path / "m")
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"model\.safetensors is truncated: its tensors need"):
        resolve_model_path(str(folder))
    weights.write_bytes(data[:5])
    with pytest.raises(ValueError, match="not a valid safetensors file: only 5 bytes"):
        resolve_model_path(str(folder))


def test_a_config_that_is_not_json_is_named(tiny_folder, tmp_path):
    folder = copy_folder(tiny_folder, tmp_path / "m")
    (folder / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"config\.json is not valid JSON"):
        resolve_model_path(str(folder))


@pytest.mark.parametrize("cut", [0, 10, 30, 200, -100, -1])
def test_a_truncated_gguf_is_not_a_valid_gguf_file_not_a_struct_error(small_gguf, tmp_path, cut):
    assert gguf_metadata(str(small_gguf))["context_length"] == 64  # the whole file is valid
    data = small_gguf.read_bytes()
    path = tmp_path / "cut.gguf"
    path.write_bytes(data[:cut] if cut else b"")
    with pytest.raises(ValueError, match=r"cut\.gguf (is not a valid GGUF file|is truncated)"):
        resolve_model_path(str(path))
    with pytest.raises(ValueError, match=r"cut\.gguf"):  # the loader checks before loading
        HFPolicy.from_pretrained(str(path), device="cpu")


def test_a_file_that_is_not_gguf_says_so(small_gguf):
    small_gguf.write_bytes(b"PK\x03\x04" + small_gguf.read_bytes()[4:])
    with pytest.raises(ValueError, match=r"starts with b'PK\\x03\\x04', not the magic b'GGUF'"):
        resolve_model_path(str(small_gguf))


# ---------------------------------------------------------------- no foreign code, no prompt


def test_every_loader_call_passes_trust_remote_code_false():
    # Every from_pretrained / from_config call in the adapter, its applications (sharpen bon/sft),
    # the benchmarks and the notebooks names trust_remote_code=False explicitly (left unset,
    # transformers asks "y/N" on standard input and runs the folder's code on "y").
    calls = 0
    root = HF.parents[1]
    paths = [
        *HF.glob("*.py"),
        *(root / "benchmarks").glob("*.py"),
        *(root / "paper_figs" / "real_models").glob("*.py"),
        *(root / "notebooks").glob("*.py"),
    ]
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("from_pretrained", "from_config")
                # HFPolicy.from_pretrained is the toolkit's own loader, checked inside
                and not (
                    isinstance(node.func.value, ast.Name)
                    and node.func.value.id in ("cls", "HFPolicy", "VLLMPolicy")
                )
            ):
                calls += 1
                kw = {k.arg: k.value for k in node.keywords}
                assert "trust_remote_code" in kw, f"{path.name}:{node.lineno}"
                assert isinstance(kw["trust_remote_code"], ast.Constant), path.name
                assert kw["trust_remote_code"].value is False, f"{path.name}:{node.lineno}"
    assert calls >= 6  # the adapter's tokenizer and model, the adapter benchmark's four


def test_a_folder_asking_for_custom_code_is_refused_and_its_code_never_runs(
    evil_folder, monkeypatch
):
    def asked(*args, **kwargs):
        raise AssertionError("the loader asked on standard input")

    monkeypatch.setattr("builtins.input", asked)
    with pytest.raises(ValueError, match=r"config\.json asks to run the folder's own Python"):
        HFPolicy.from_pretrained(str(evil_folder), device="cpu")
    assert not (evil_folder / "MARKER").exists()
    # Even past the toolkit's own check, the loaders' trust_remote_code=False refuses the code
    # without asking.
    from simulators.hf import _files

    monkeypatch.setattr(_files, "_refuse_custom_code", lambda folder: None)
    with pytest.raises(ValueError, match="trust_remote_code"):
        HFPolicy.from_pretrained(str(evil_folder), device="cpu")
    assert not (evil_folder / "MARKER").exists()


def test_custom_code_in_the_tokenizer_config_is_refused(tiny_folder, tmp_path):
    folder = copy_folder(tiny_folder, tmp_path / "m")
    edit_json(folder / "tokenizer_config.json", auto_map={"AutoTokenizer": ["evil.Tok", None]})
    with pytest.raises(ValueError, match=r"tokenizer_config\.json asks to run"):
        resolve_model_path(str(folder))


def test_sharpen_bon_never_prompts_nor_runs_the_folders_code_even_when_stdin_says_yes(
    evil_folder, tmp_path
):
    out = tmp_path / "out"
    env = dict(os.environ, HF_HUB_OFFLINE="1", SHARPEN_DEBUG="")
    proc = subprocess.run(
        [sys.executable, "-m", "paper_figs.cli", "bon", "--model", str(evil_folder), "--out",
         str(out), "--n-max", "1", "--prompts", "1", "--max-new-tokens", "2", "--quiet"],
        input="y\ny\n",
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=pathlib.Path(__file__).resolve().parents[2],
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "[y/N]" not in proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "--model" in lines[0] and "auto_map" in lines[0], proc.stderr
    assert not (evil_folder / "MARKER").exists()
    assert not out.exists()
