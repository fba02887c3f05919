"""CKV_SAHAB_3: region settings handed to containers (AWS_REGION, AWS_DEFAULT_REGION, AZURE_LOCATION)
name a UAE region, so SDKs inside the pod never default to a region abroad."""

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.kubernetes.checks.resource.base_container_check import BaseK8sContainerCheck

REGION_VARIABLES = ("AWS_REGION", "AWS_DEFAULT_REGION", "AZURE_LOCATION", "AZURE_REGION")
UAE = ("me-central-1", "uaenorth", "uaecentral")
# cloud: kubernetes (components/constants.py ON_PREMISES): the in-cluster store's signing region, no cloud's.
ON_PREMISES = "on-premises"


class InRegionCloudEndpoints(BaseK8sContainerCheck):
    def __init__(self) -> None:
        super().__init__(name="Ensure containers are pointed at a UAE cloud region", id="CKV_SAHAB_3", categories=[CheckCategories.GENERAL_SECURITY])

    def scan_container_conf(self, metadata: dict[str, Any], conf: dict[str, Any]) -> CheckResult:
        self.evaluated_container_keys = ["env"]
        for var in conf.get("env") or []:
            if isinstance(var, dict) and var.get("name") in REGION_VARIABLES and isinstance(var.get("value"), str):
                if var["value"].replace(" ", "").lower() not in (*UAE, ON_PREMISES):
                    return CheckResult.FAILED
        return CheckResult.PASSED


check = InRegionCloudEndpoints()
