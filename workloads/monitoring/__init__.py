"""Drift monitoring: live feature and score windows against the training-time reference profile.

`ReferenceProfile` (profile.py) is taken from the training data; `detect_drift` (drift.py) tests
windows of live data against it; report.py writes the JSON / HTML reports, Prometheus metrics and
the retraining event; `python -m workloads.monitoring` is the CronJob's entry point.
"""
