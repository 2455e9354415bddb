"""``make bench``: load and latency benchmarks of the local stack, with side-by-side floors."""
