"""The training loop and its data adapters."""
