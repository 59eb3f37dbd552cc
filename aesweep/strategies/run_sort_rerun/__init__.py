"""The run_sort_rerun strategy: config.py (no torch), strategy.py (autoencoders) and generator.py
(the data-space generator)."""
