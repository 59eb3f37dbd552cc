"""The minibatch strategy: config.py (no torch) and strategy.py (its implementation)."""
