"""Speed and memory measurements; each prints JSON. Never timed asserts: see tests/ for those."""
