"""Offline demo support: a deterministic fake of the LLM provider APIs, so nothing needs a real key."""
