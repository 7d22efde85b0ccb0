"""Figure: label-free self-training (policy gradient with self-rewards, EM-RL, EM-FT, TTRL,
iterated sharpening) on a toy reasoning task, exact trajectories with their theory (issue 17)."""
