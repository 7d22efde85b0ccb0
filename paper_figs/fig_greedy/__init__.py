"""Figure: greedy decoding vs the sequence argmax as a function of pi(y*) (Proposition 3.1)."""
