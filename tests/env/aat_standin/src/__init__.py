"""A small stand-in for an agile-agent-team checkout (its package is literally ``src``).

Written for Dojo's contract tests from the documented ``src.rl`` surface (SPEC §8);
it is not AAT's code. See ``src/rl/__init__.py``.
"""
