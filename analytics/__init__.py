"""Relational Coordination analytics: pure functions over pandas frames."""
