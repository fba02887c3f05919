"""Online scoring: a BentoML service on onnxruntime with A/B routing (see README.md here).

Import the parts you need (`workloads.serving.abtest`, `workloads.serving.service`); this package
imports nothing heavy itself so that `bentoml serve` and the tests control import order.
"""
