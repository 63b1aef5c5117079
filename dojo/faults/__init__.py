"""Fault injection and accounting: kill the parts of ``dojo up`` and count every event id."""
