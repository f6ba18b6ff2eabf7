"""The peer benchmark: Kaohe against django-viewflow 2.4 on the same machine, in the same run.

``compare.py`` is Kaohe's side and the report (``benchmarks/run.py --only peer``); ``worker.py`` and
``peerflow/`` are viewflow's side, run in the peer's own venv that ``setup.sh`` creates.
"""
