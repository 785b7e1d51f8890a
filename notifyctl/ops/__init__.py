"""The operators' data: ``inspect.py`` (``notifyctl inspect``) and ``dlq.py`` (``notifyctl dlq
replay``). Data only, never printing: the CLI renders it (``cli/views.py``) or prints it as JSON.
"""
