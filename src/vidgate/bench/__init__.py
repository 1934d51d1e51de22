"""Benchmarks: ``python -m vidgate.bench watermark``."""
