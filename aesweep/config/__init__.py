"""The bottom layer: what a spec names and what a trial is, as pydantic models (no torch, Ray
or MLflow).

:mod:`.registry` (spec names -> config class and lazily imported implementation),
:mod:`.grid` (``Sweepable`` fields and their grid twins), :mod:`.distances` (distance kinds and
their properties), the component base configs (:mod:`.models`, :mod:`.strategies`,
:mod:`.data`), the trial-level sections (:mod:`.optimizer`, :mod:`.evaluation`) and
:mod:`.trial` (``TrialConfig``, the ``TrialPayload`` the driver hands a trial, trial ids).
Everything above imports from here; nothing here imports from above.
"""
