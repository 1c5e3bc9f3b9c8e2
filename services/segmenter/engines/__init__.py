"""Segmentation engines: the computed segmentation, worded by a model when one is configured."""
