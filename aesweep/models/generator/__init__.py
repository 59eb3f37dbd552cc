"""The Run-Sort-ReRun toy's generator: noise -> data, no encoder (RSR §3.1, Figure 1)."""
