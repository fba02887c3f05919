"""A Deployment pulling from Docker Hub, privileged, without resources."""

import pulumi_kubernetes as k8s

k8s.apps.v1.Deployment(
    "web",
    metadata={"name": "web", "namespace": "apps"},
    spec={
        "selector": {"match_labels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "nginx:latest", "security_context": {"privileged": True}}]},
        },
    },
)
