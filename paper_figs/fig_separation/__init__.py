"""Figure: queries vs dimension for SFT, offline squared loss and XPO (Example J.1, Theorem J.3)."""
