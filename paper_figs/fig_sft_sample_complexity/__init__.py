"""Figure: SFT-Sharpening's measured sample complexity vs C_cov, eps and delta (Theorem 4.1)."""
