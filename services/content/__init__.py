"""Content: writes A/B message variants per segment and channel for each campaign."""
