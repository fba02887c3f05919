"""InClusterDataServices on its own, under the shared mocks: bad arguments refused by field; the
environment its clients get (the whole-plan tests in test_onprem_plan.py check the children)."""

from __future__ import annotations

import pytest

from components.kubernetes.data_services import DataServicesArgs, InClusterDataServices, workload_env

pytestmark = pytest.mark.usefixtures("unit_mocks")


def _args(**over) -> DataServicesArgs:
    base = dict(
        namespace="p",
        registry_host="reg.example.ae:5000",
        storage_class="sc",
        buckets={"data-lake": "e-data-lake"},
        object_store_clients=("p", "s"),
        cache_clients=("s",),
    )
    return DataServicesArgs(**{**base, **over})


@pytest.mark.parametrize(("over", "field"), [({"redis_storage_gib": 0}, "redis_storage_gib"), ({"buckets": {}}, "buckets")])
def test_bad_arguments_name_the_field(over, field):
    with pytest.raises(ValueError, match=field):
        InClusterDataServices("d", _args(**over))


def test_workload_env_reads_secrets_and_the_ca_by_reference():
    env = workload_env("http://object-store.p.svc:8333")
    assert env["AWS_ENDPOINT_URL_S3"] == env["MLFLOW_S3_ENDPOINT_URL"] == "http://object-store.p.svc:8333"
    assert env["AWS_SECRET_ACCESS_KEY"] == {"valueFrom": {"secretKeyRef": {"name": "object-store", "key": "secret_key"}}}, "no secret value in the manifest"
    assert env["SAHAB_REGISTRY_DB_PASSWORD"]["valueFrom"]["secretKeyRef"]["optional"] is True, "optional where the namespace has no database secret"
    assert env["SAHAB_CA_PEM"] == {"valueFrom": {"configMapKeyRef": {"name": "sahab-ca", "key": "ca.crt"}}}
