"""Tests run in float64: exact results are compared at rtol ~1e-10."""

import jax
import pytest

jax.config.update("jax_enable_x64", True)


@pytest.fixture
def never_load(monkeypatch):
    """Makes loading the model fail the test: arguments must be refused before it."""
    from paper_figs.real_models import bon as _cli
    from paper_figs.real_models import sft as _cli_train

    def never(*args, **kwargs):
        raise AssertionError("the model was loaded before the arguments were checked")

    monkeypatch.setattr(_cli, "load_policy", never)
    monkeypatch.setattr(_cli_train, "load_policy", never)
