"""The momentum_queue strategy: config.py (no torch) and strategy.py (its implementation)."""
