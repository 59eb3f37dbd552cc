"""The minibatch strategy: config.py (no torch), strategy.py (autoencoders) and generator.py
(the data-space generator)."""
