"""Figure: the minimax (Bayes) error on Theorem 3.1''s hard instance vs the budget m."""
