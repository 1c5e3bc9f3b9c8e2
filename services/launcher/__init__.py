"""Launcher: launches a campaign once its plan, segments and content are all ready."""
