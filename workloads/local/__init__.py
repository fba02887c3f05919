"""The platform on one machine (`sahab local up|status|down`) and the real servers it runs on.

Python API (what `sahab verify local` and the tests read): `up(LocalOptions(...))`,
`status(state_dir)` -> `{"services": [{"name", "url", "healthy", "pid"}]}`, `platform_env(state_dir)`
-> the `SAHAB_*` (and AWS_*/MLflow S3) variables every service was given, `down(state_dir)`.
Servers alone: `workloads.local.servers.start_redis|start_postgres|start_s3`.
"""

from workloads.local.platform import DEFAULT_STATE_DIR, LocalError, LocalOptions, down, platform_env, service_health, status, up

__all__ = ["DEFAULT_STATE_DIR", "LocalError", "LocalOptions", "down", "platform_env", "service_health", "status", "up"]
