"""``dojo chat``: a developer works with a trained model on a real task at the terminal.

One module per job:

* :mod:`dojo.chat.phases` — elicitation, research and planning as episodes of the
  simulator's kinds (same moves, same observations) with the developer answering;
* :mod:`dojo.chat.session` — the session as a step machine over those phases;
* :mod:`dojo.chat.docs_index` — BM25 over the ``--docs`` folder for research moves;
* :mod:`dojo.chat.notes` — what the session established, saved for ``--resume``;
* :mod:`dojo.chat.brief` — the Markdown brief written from the notes;
* :mod:`dojo.chat.record` — the session as events (store, Kafka) and the ratings;
* :mod:`dojo.chat.render` — the terminal: each move shown as what it is;
* :mod:`dojo.chat.app` — ``dojo chat`` end to end.
"""
