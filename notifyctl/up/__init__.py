"""``notifyctl up``: the whole service on one machine, one API and N supervised workers.

``plan.py`` decides what ``up`` runs (webhook reach, ports, the start banner); ``supervisor.py``
starts the processes and restarts those that die.
"""
