"""Training: the runtime that calls a project's training function (runtime.py), what it may return
(frameworks.py), checkpoints (checkpoint.py), the rank launcher (launch.py) and the platform's
tabular torch library (tabular/)."""
