"""The one training step (a pure function of the trial's state) and what runs it: the
functional optimisers, the step of every family x strategy, the executors (eager, vmapped
over a pack's members, compiled) and the block loop of an epoch."""
