"""The run_sort_rerun strategy: config.py (no torch) and strategy.py (its implementation)."""
