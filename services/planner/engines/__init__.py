"""Planning engines: the offline engine, and the LLM engines built on it."""
