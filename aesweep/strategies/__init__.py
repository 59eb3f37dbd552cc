"""Training strategies: which set of latents the distance sees and how its gradient is formed.

One folder per strategy: ``<name>/config.py`` (its config, registered in
:data:`aesweep.config.strategies.STRATEGIES`; no torch) and ``<name>/strategy.py`` (its
implementation, imported when a trial runs). Shared machinery: :mod:`.base`, :mod:`.loading`,
:mod:`.running_stats`.
"""
