"""Training strategies: which set of latents the distance sees and how its gradient is formed.

Configs live in :mod:`aesweep.strategies.config` (no torch); implementations in one module each.
"""
