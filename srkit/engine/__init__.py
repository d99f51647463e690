"""The training engine shared by every model family."""
