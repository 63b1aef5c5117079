"""Dojo: trains a local LLM in senior-engineer behaviour by RL inside a simulated agile team."""

__version__ = "0.1.0"
