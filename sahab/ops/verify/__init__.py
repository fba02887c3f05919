"""`sahab verify <env|local>`: proves the live platform is what the plan promised.

Three parts, each a list of `Check`s (`base.py`) that the shipped pytest-testinfra suite
(`suite/`) runs one test case each: `cloud` (boto3: residency, keys, privacy, versioning,
Object Lock, the trail, no replication out of the region; on Azure `cloud_azure.py`, Resource
Manager through one generic client), `cluster` (the Kubernetes API) and
`workloads` (MLflow, serving, the drift job). `runner.py` drives pytest and writes the JUnit XML
and the Markdown evidence summary.
"""
