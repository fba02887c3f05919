"""A project's feature store, under its Feast root (local folder, s3:// or abfss://):

    tables.py    the typed tables (feature rows, labels, frames) from project.yaml, and their I/O
    repo.py      Feast definitions generated from the project, and the local / aws / azure configurations
    store.py     FeatureRepo: feature rows, apply, point-in-time joins, materialize, online reads
    labels.py    LabelStore: labels with their event and arrival times (ingestion and the control plane write)
    ingest.py    declared sources, generated data and the prediction log's live rows, idempotently
    frames.py    frozen training frames per run key: sliding window, common holdout, exact and
                 point-in-time joins, lineage
    encoding.py  the model encoding shared by training and serving

`python -m workloads.features --project DIR ...` runs them (see __main__.py)."""
