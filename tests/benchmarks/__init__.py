"""Benchmarks, run with ``make bench``: figures are printed, never asserted."""
