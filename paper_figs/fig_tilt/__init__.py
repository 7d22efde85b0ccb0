"""Figure: the KL-regularized sharpened policy pi*_beta's mass on y* vs beta (Eq. 3, Lemma 4.1)."""
