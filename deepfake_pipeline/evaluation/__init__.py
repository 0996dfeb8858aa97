"""Metrics, significance tests, the comparison of two runs, closing lines and plots."""
