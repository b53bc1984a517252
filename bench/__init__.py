"""Benchmarks of the lesson store: API load and latency targets, the bot in webhook mode (README.md)."""
