"""Figure: % lift of best-of-50 (log-likelihood) over greedy across toy models x toy tasks."""
