"""CKV_SAHAB_1: containers pull images only from the in-region registries (UAE residency)."""

import fnmatch
import os
from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.kubernetes.checks.resource.base_container_check import BaseK8sContainerCheck

DEFAULT_REGISTRIES = "*.dkr.ecr.me-central-1.amazonaws.com"


def _host(image: str) -> str:
    first, sep, _ = image.partition("/")
    return first.lower() if sep and ("." in first or ":" in first or first == "localhost") else "docker.io"


class InRegionImageRegistry(BaseK8sContainerCheck):
    def __init__(self) -> None:
        super().__init__(name="Ensure containers pull images from the in-region registry", id="CKV_SAHAB_1", categories=[CheckCategories.SUPPLY_CHAIN])

    def scan_container_conf(self, metadata: dict[str, Any], conf: dict[str, Any]) -> CheckResult:
        self.evaluated_container_keys = ["image"]
        image = conf.get("image")
        if not isinstance(image, str) or not image.strip():
            return CheckResult.UNKNOWN
        patterns = [p.strip().lower() for p in (os.environ.get("SAHAB_ALLOWED_REGISTRIES") or DEFAULT_REGISTRIES).split(",") if p.strip()]
        host, ref = _host(image), image.split("@", 1)[0].lower()
        for p in patterns:
            if ("/" in p and fnmatch.fnmatchcase(ref, p.rstrip("/") + "/*")) or fnmatch.fnmatchcase(host, p):
                return CheckResult.PASSED
        return CheckResult.FAILED


check = InRegionImageRegistry()
