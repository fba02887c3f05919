"""The platform on one machine (`sahab local up|status|down`), the real servers it runs on, and the
engineer's path (`sahab project validate|run`).

Python API (what `sahab verify local` and the tests read; `served_projects`, not `projects`: that name is the submodule): `up(LocalOptions(...))`,
`status(state_dir)` -> `{"services": [{"name", "url", "healthy", "pid"}]}`, `platform_env(state_dir)`
-> the `SAHAB_*` (and AWS_*/MLflow S3) variables every service was given, `served_projects(state_dir)` and
`project_env(state_dir, name)` -> each served project and its own variables, `down(state_dir)`.
Servers alone: `workloads.local.servers.start_redis|start_postgres|start_s3`. Projects:
`workloads.local.projects.validate_folder|run_folder`.
"""

from workloads.local.platform import (
    DEFAULT_STATE_DIR,
    LocalError,
    LocalOptions,
    down,
    platform_env,
    project_env,
    served_projects,
    service_health,
    status,
    up,
)

__all__ = ["DEFAULT_STATE_DIR", "LocalError", "LocalOptions", "down", "platform_env", "project_env", "served_projects", "service_health", "status", "up"]
