"""The workloads accept the on-premises object store (cloud: kubernetes) and nothing else outside the UAE."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from components.constants import ON_PREMISES
from workloads import settings as ws


def test_the_copy_of_the_on_premises_name_agrees():
    assert ws.ON_PREMISES == ON_PREMISES, "workloads/settings.py ON_PREMISES differs from components/constants.py"


def test_feast_on_premises_needs_the_in_cluster_endpoint(monkeypatch):
    monkeypatch.setenv("SAHAB_FEAST_MODE", "aws")
    monkeypatch.setenv("SAHAB_FEAST_REGION", ON_PREMISES)
    with pytest.raises(ValidationError, match="SAHAB_FEAST_S3_ENDPOINT_OVERRIDE"):
        ws.FeatureStoreSettings()
    monkeypatch.setenv("SAHAB_FEAST_S3_ENDPOINT_OVERRIDE", "http://object-store.sahab-platform.svc:8333")
    assert ws.FeatureStoreSettings().s3_endpoint_override == "http://object-store.sahab-platform.svc:8333"
    monkeypatch.setenv("SAHAB_FEAST_REGION", "me-south-1")
    with pytest.raises(ValidationError, match="not in the UAE"):
        ws.FeatureStoreSettings()
