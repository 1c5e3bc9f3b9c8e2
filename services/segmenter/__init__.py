"""Segmenter: keeps the customer base and splits it into segments for each planned campaign."""
