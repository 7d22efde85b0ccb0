"""The theorems' rates, the hard instances with their minimax learners, sample-complexity
estimation, and the registry of numerically checkable claims (THEORY.md sections 3 and 6)."""

__all__: list[str] = []
