"""corpustrace: trace language-model outputs back to their training data."""

__version__ = "0.1.0"
