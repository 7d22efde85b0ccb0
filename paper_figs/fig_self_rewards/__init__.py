"""Figure: % lift over greedy vs N: log-likelihood, length-normalized and majority rewards."""
