"""Training engine: one loop with hook methods, objectives chosen by recipe, evaluation and suggestions.

Nothing here imports Qt; the GUI drives the same functions from a worker thread through
``core.train.events.TrainEvents`` callbacks and a ``core.jobs.CancelToken``.
"""
