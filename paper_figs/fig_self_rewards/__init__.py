"""Figure: % lift over greedy vs N for the log-likelihood, length-normalized and majority rewards."""
