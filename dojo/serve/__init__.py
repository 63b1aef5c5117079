"""``dojo serve`` and ``dojo export``: a trained policy used outside Dojo.

:mod:`dojo.serve.engine` generates free text with a base model and adapter, one
request at a time on one worker thread, following the newest published adapter
between requests; :mod:`dojo.serve.app` is the thin OpenAI-compatible HTTP layer
over it (FastAPI + uvicorn); :mod:`dojo.serve.export` writes an adapter (or the
base with it merged) as a folder other tools load.

Nothing is imported here: ``dojo serve`` checks its address before torch is loaded.
"""
