"""AI steps: one provider interface, OpenAI and Anthropic, offline fallback, decision log."""
