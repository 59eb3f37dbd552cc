"""Trial packs: grid points that share every shape-determining field trained as one
vectorized computation, each member computing what its unpacked trial computes."""
