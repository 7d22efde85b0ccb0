"""The paper's figures (one folder each), the ``sharpen`` command, and the reproduction report."""

__all__: list[str] = []
