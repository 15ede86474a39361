"""caveat: code completion from a local model that shows where the model was unsure."""

__version__ = "0.1.0"
