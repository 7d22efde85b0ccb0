"""Figure: power samplers toward p^alpha = pi*_beta: quality against tokens generated (issue 16)."""
