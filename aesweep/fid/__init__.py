"""Fréchet Inception Distance as published FIDs compute it (Heusel et al. 2017; REFERENCE.md
"Fréchet distance"): Inception-v3 pool features of the TensorFlow 2015-12-05 weights.

Modules, one job each: :mod:`.config` (the spec's ``evaluation.fid``, no torch),
:mod:`.weights` (finding and loading the network offline), :mod:`.features` (resize, grey to
RGB, batched extraction), :mod:`.stats` (μ, Σ and their on-disk cache), :mod:`.score` (what a
trainable calls) and :mod:`.sources` (the ``aesweep fid A B`` arguments). Importing this package
imports no torch.
"""
