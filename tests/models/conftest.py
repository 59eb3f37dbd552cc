"""The model tests run tiny networks: one intra-op thread is fastest on a shared CPU (more
threads than free cores makes every small matmul wait), as the trial entry point sets too."""

import torch

torch.set_num_threads(1)
