"""rcbot's benchmarks: ``make bench`` / ``python -m benchmarks``."""
