"""Monitoring of a project's live model: drift of its inputs and scores, and its performance once
labels mature.

`ReferenceProfile` (profile.py) is taken from the rows a version was trained on (seasonal slots,
rows grouped by key; reference.py builds and logs it); `detect_drift` (drift.py) tests windows of
live data against it; performance.py joins the prediction log with the label store and judges the
champion's metrics; episodes.py holds the one-retraining-per-episode trigger; report.py writes the
JSON / HTML reports, Prometheus metrics and events; alerts.py the platform's alert rules;
`python -m workloads.monitoring` is the CronJob's entry point (job.py: the scheduled run).
"""
