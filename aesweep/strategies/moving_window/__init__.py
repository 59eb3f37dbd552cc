"""The moving_window strategy: config.py (no torch) and strategy.py (its implementation)."""
