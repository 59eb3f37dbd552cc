"""Sweeps: the spec, its expansion into trials, the runners, the results, the CLI."""
