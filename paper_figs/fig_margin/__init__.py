"""Figure: squared-loss RLHF-Sharpening vs SFT-Sharpening as the margin shrinks (Theorem 4.2)."""
