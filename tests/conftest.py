"""Tests run in float64: exact results are compared at rtol ~1e-10."""

import jax

jax.config.update("jax_enable_x64", True)
