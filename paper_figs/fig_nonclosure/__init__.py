"""Figure: representational failure of sharpening (Proposition E.2)."""
