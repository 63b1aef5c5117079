"""Watching Dojo run: the terminal dashboard (``dojo monitor``), the web dashboard and the
Prometheus endpoint (``dojo dashboard``), all drawn from one snapshot model
(:mod:`dojo.monitor.state`) taken from the store, the broker and the live workers."""
