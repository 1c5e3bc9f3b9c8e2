"""The six services: planner, segmenter, content, launcher, payment and analytics."""
