"""Content engines: the LLM writer, with the offline copy library as its fallback."""
