"""Shared tools every layer may use: progress lines, atomic file writes, fault injection for tests,
filling numba's disk cache before parallel workers start."""
