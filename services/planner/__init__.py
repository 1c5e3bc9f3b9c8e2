"""Planner: turns a campaign request into a budget allocation, forecast and schedule."""
