"""Where a sweep's trials run: one module per backend (registered in
:mod:`aesweep.sweeps.backend_registry`)."""
