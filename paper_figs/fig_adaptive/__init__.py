"""Figure: adaptive vs fixed-N SFT-Sharpening, sample complexity vs 1/eps (Theorem D.1 vs 4.1)."""
