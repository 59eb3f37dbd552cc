"""Model families (objective + networks), one folder each with a validated config beside it.

Importing this package imports no torch: configs live in ``<family>/config.py``, the networks
and objectives in ``<family>/model.py``, found through :mod:`aesweep.catalog`.
"""
