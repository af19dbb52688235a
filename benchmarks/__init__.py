"""Benchmarks that print ratios measured side by side in one run (this machine is shared and noisy)."""
