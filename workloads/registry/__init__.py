"""MLflow tracking and model registry: lineage of runs, registered versions, aliases, promotion."""
