"""Model files: save_model / load_model, save_weights / load_weights (see archive.py)."""
from framework.saving.archive import ArchiveError, load_model, load_weights, save_model, save_weights
