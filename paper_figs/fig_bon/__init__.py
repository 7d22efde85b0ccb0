"""Figure: best-of-N hits y* with probability 1 - (1 - p*)^N; its log-likelihood rises with N."""
