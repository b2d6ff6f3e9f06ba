"""bplint: a fast static linter for Hugging Face transformers training code and notebooks."""

__version__ = "0.1.0"
