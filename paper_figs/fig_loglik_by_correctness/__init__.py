"""Figure: log-likelihood distributions of correct vs incorrect responses (paper Figs. 1c, 6)."""
