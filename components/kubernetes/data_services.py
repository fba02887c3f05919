"""The data services of an existing cluster (`cloud: kubernetes`), in the cluster: PostgreSQL for
MLflow, Redis for the Feast online store, SeaweedFS as the S3-compatible object store.

Each is one StatefulSet of the upstream project's own image (mirrored into the customer's
registry, never pulled from outside), on a volume of the platform's storage class, reachable only
from the namespaces that use it (NetworkPolicy), restricted-PSA clean. PostgreSQL and Redis speak
TLS only, with certificates from a private CA made here (its certificate reaches the clients as
SAHAB_CA_PEM); credentials are random, kept in Secrets of the namespaces that use them and handed
to the workloads by `secretKeyRef`. Nothing leaves the cluster: that is the residency guarantee.

Why StatefulSets of the official images rather than charts: the gate renders no charts offline,
so every object the install creates is here, validated against the Kubernetes schemas and checkov
like the rest; and one replica each is what a one-server install runs. Backups: `pg_dump` and the
object store's own files on the customer's backup (README).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
import pulumi_tls as tls

from components.kubernetes import _objects as obj
from components.kubernetes._pod import container_security, labels, pod_security, resources, tmp_volume
from components.kubernetes.images import mirror_ref

# The images are pins of kind `data-service` in components/kubernetes/pins.py (where each was checked),
# pulled from the customer's registry as `<host>/sahab/mirror/<upstream path>:<tag>`.

POSTGRES_PORT, REDIS_PORT, S3_PORT = 5432, 6379, 8333
# A high uid of their own each (checkov CKV_K8S_40: never a host user's); the images run as any uid with
# a writable data volume (fsGroup), the postgres entrypoint through nss_wrapper.
POSTGRES_UID, REDIS_UID, SEAWEEDFS_UID = 10999, 10998, 10997
CA_CONFIG_MAP = "sahab-ca"
OBJECT_STORE_SECRET = "object-store"
REGISTRY_DB_SECRET = "registry-db"
ONLINE_STORE_SECRET = "online-store"
# The variables with_secrets.py reads for `env:` sources (components/kubernetes/scripts/with_secrets.py).
REGISTRY_DB_ENV, ONLINE_STORE_ENV = "SAHAB_REGISTRY_DB_", "SAHAB_ONLINE_STORE_"


@dataclass(frozen=True, kw_only=True)
class DataServicesArgs:
    namespace: str
    """Where the services run (the platform namespace)."""
    registry_host: pulumi.Input[str]
    """The customer's registry holding the mirrors."""
    storage_class: pulumi.Input[str]
    """StorageClass of every volume."""
    buckets: Mapping[str, str]
    """Bucket per purpose (components.workloads purposes): created on first write by the store's admin identity."""
    object_store_clients: tuple[str, ...]
    """Namespaces whose workloads read and write the object store (they get its credentials and the CA)."""
    cache_clients: tuple[str, ...] = ()
    """Namespaces besides `namespace` that reach Redis."""
    postgres_storage_gib: int = 20
    redis_storage_gib: int = 5
    object_store_storage_gib: int = 100
    database: str = "mlflow"
    """Database and its owner (the MLflow backend store)."""
    cert_validity_hours: int = 24 * 365 * 2
    """Server certificates; `pulumi up` renews them in their last 30 days."""
    extra_labels: Mapping[str, str] = field(default_factory=dict)


class InClusterDataServices(pulumi.ComponentResource):
    database_endpoint: pulumi.Output[str]
    cache_endpoint: pulumi.Output[str]
    object_store_url: pulumi.Output[str]
    ca_pem: pulumi.Output[str]

    def __init__(self, name: str, args: DataServicesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sahab:kubernetes:DataServices", name, None, opts)
        for f in ("postgres_storage_gib", "redis_storage_gib", "object_store_storage_gib"):
            if getattr(args, f) < 1:
                raise ValueError(f"{f}: must be >= 1 GiB, got {getattr(args, f)}")
        if not args.buckets:
            raise ValueError("buckets: at least one bucket purpose is needed")
        child = pulumi.ResourceOptions(parent=self)
        ns = args.namespace
        self._child, self._args = child, args
        ca_key = tls.PrivateKey(f"{name}-ca-key", algorithm="ECDSA", ecdsa_curve="P256", opts=child)
        ca = tls.SelfSignedCert(
            f"{name}-ca",
            private_key_pem=ca_key.private_key_pem,
            subject=tls.SelfSignedCertSubjectArgs(common_name=f"{name} in-cluster CA", organization="Sahab"),
            is_ca_certificate=True,
            validity_period_hours=args.cert_validity_hours * 2,
            early_renewal_hours=24 * 30,
            allowed_uses=["cert_signing", "crl_signing"],
            opts=child,
        )
        self.ca_pem = ca.cert_pem
        for client in sorted({ns, *args.object_store_clients, *args.cache_clients}):
            k8s.core.v1.ConfigMap(f"{name}-ca-{client}", metadata={"name": CA_CONFIG_MAP, "namespace": client}, data={"ca.crt": ca.cert_pem}, opts=child)

        db_password = random.RandomPassword(f"{name}-registry-db-password", length=32, special=False, opts=child)
        self._secret(f"{name}-registry-db", ns, REGISTRY_DB_SECRET, {"username": args.database, "password": db_password.result})
        self._statefulset_postgres(name, ca_key, ca)

        cache_password = random.RandomPassword(f"{name}-online-store-password", length=32, special=False, opts=child)
        for client in sorted({ns, *args.cache_clients}):
            self._secret(f"{name}-online-store-{client}", client, ONLINE_STORE_SECRET, {"value": cache_password.result})
        self._secret(f"{name}-online-store-config", ns, "online-store-config", {"redis.conf": pulumi.Output.format("requirepass {0}\n", cache_password.result)})
        self._statefulset_redis(name, ca_key, ca)

        access = random.RandomPassword(f"{name}-object-store-access-key", length=20, special=False, upper=True, lower=False, opts=child)
        secret = random.RandomPassword(f"{name}-object-store-secret-key", length=40, special=False, opts=child)
        for client in sorted({ns, *args.object_store_clients}):
            self._secret(f"{name}-object-store-{client}", client, OBJECT_STORE_SECRET, {"access_key": access.result, "secret_key": secret.result})
        identities = pulumi.Output.json_dumps(
            {
                "identities": [
                    {
                        "name": "sahab",
                        "credentials": [{"accessKey": access.result, "secretKey": secret.result}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
        self._secret(f"{name}-object-store-config", ns, "object-store-config", {"s3.json": identities})
        self._statefulset_seaweedfs(name)

        self.database_endpoint = pulumi.Output.from_input(f"registry-db.{ns}.svc:{POSTGRES_PORT}")
        self.cache_endpoint = pulumi.Output.from_input(f"online-store.{ns}.svc")
        self.object_store_url = pulumi.Output.from_input(f"http://object-store.{ns}.svc:{S3_PORT}")
        self.register_outputs({"database_endpoint": self.database_endpoint, "cache_endpoint": self.cache_endpoint, "object_store_url": self.object_store_url})

    # --- building blocks -------------------------------------------------------------------------------
    def _secret(self, name: str, namespace: str, secret: str, data: dict[str, pulumi.Input[str]], type_: str = "Opaque") -> k8s.core.v1.Secret:
        return k8s.core.v1.Secret(name, metadata={"name": secret, "namespace": namespace}, type=type_, string_data=data, opts=self._child)

    def _server_tls(self, name: str, service: str, ca_key: tls.PrivateKey, ca: tls.SelfSignedCert) -> str:
        """A TLS Secret (tls.crt, tls.key, ca.crt) for `service`, signed by the private CA; returns its name."""
        ns, child = self._args.namespace, self._child
        key = tls.PrivateKey(f"{name}-{service}-key", algorithm="ECDSA", ecdsa_curve="P256", opts=child)
        dns = [service, f"{service}.{ns}", f"{service}.{ns}.svc", f"{service}.{ns}.svc.cluster.local"]
        csr = tls.CertRequest(
            f"{name}-{service}-csr",
            private_key_pem=key.private_key_pem,
            dns_names=dns,
            subject=tls.CertRequestSubjectArgs(common_name=f"{service}.{ns}.svc", organization="Sahab"),
            opts=child,
        )
        cert = tls.LocallySignedCert(
            f"{name}-{service}-cert",
            cert_request_pem=csr.cert_request_pem,
            ca_private_key_pem=ca_key.private_key_pem,
            ca_cert_pem=ca.cert_pem,
            validity_period_hours=self._args.cert_validity_hours,
            early_renewal_hours=24 * 30,
            allowed_uses=["digital_signature", "key_encipherment", "server_auth"],
            opts=child,
        )
        secret = f"{service}-tls"
        self._secret(
            f"{name}-{service}-tls", ns, secret, {"tls.crt": cert.cert_pem, "tls.key": key.private_key_pem, "ca.crt": ca.cert_pem}, "kubernetes.io/tls"
        )
        return secret

    def _statefulset(
        self,
        name: str,
        app: str,
        uid: int,
        port: int,
        container: dict[str, Any],
        volumes: list[dict[str, Any]],
        storage_gib: int,
        data_path: str,
        clients: tuple[str, ...],
        extra_ports: tuple[tuple[str, int], ...] = (),
    ) -> None:
        args, ns, child = self._args, self._args.namespace, self._child
        selector = {"app.kubernetes.io/name": app}
        app_labels = labels(app, "data-service", **args.extra_labels)
        container = {
            "imagePullPolicy": "IfNotPresent",
            "ports": [{"name": "service", "containerPort": port}, *({"name": n, "containerPort": p} for n, p in extra_ports)],
            "securityContext": container_security(),
            **container,
            "volumeMounts": [{"name": "data", "mountPath": data_path}, *container.get("volumeMounts", ())],
        }
        k8s.apps.v1.StatefulSet(
            f"{name}-{app}",
            metadata={"name": app, "namespace": ns, "labels": app_labels},
            spec={
                "serviceName": app,
                "replicas": 1,
                "selector": {"matchLabels": selector},
                "template": {
                    "metadata": {"labels": app_labels},
                    "spec": {
                        "automountServiceAccountToken": False,
                        "securityContext": pod_security(uid),
                        "terminationGracePeriodSeconds": 60,
                        "containers": [container],
                        "volumes": volumes,
                    },
                },
                "volumeClaimTemplates": [
                    {
                        "metadata": {"name": "data"},
                        "spec": {
                            "accessModes": ["ReadWriteOnce"],
                            "storageClassName": args.storage_class,
                            "resources": {"requests": {"storage": f"{storage_gib}Gi"}},
                        },
                    }
                ],
            },
            opts=child,
        )
        k8s.core.v1.Service(
            f"{name}-{app}-service",
            metadata={"name": app, "namespace": ns, "labels": app_labels},
            spec={"type": "ClusterIP", "selector": selector, "ports": [{"name": "service", "port": port, "targetPort": "service"}]},
            opts=child,
        )
        obj.network_policy(
            f"{name}-{app}-netpol",
            ns,
            app,
            selector,
            child,
            ingress=[{"from": obj.from_namespaces(*sorted({ns, *clients})), "ports": [{"protocol": "TCP", "port": port}]}],
        )

    def _statefulset_postgres(self, name: str, ca_key: tls.PrivateKey, ca: tls.SelfSignedCert) -> None:
        args = self._args
        tls_secret = self._server_tls(name, "registry-db", ca_key, ca)
        self._statefulset(
            name,
            "registry-db",
            POSTGRES_UID,
            POSTGRES_PORT,
            {
                "name": "postgres",
                "image": mirror_ref(args.registry_host, "postgres"),
                # TLS 1.2+ only, scram passwords; the key file is root-owned 0640 (group = fsGroup), which PostgreSQL accepts.
                "args": [
                    "-c",
                    "ssl=on",
                    "-c",
                    "ssl_cert_file=/etc/postgresql/tls/tls.crt",
                    "-c",
                    "ssl_key_file=/etc/postgresql/tls/tls.key",
                    "-c",
                    "ssl_min_protocol_version=TLSv1.2",
                    "-c",
                    "password_encryption=scram-sha-256",
                ],
                # The entrypoint reads *_FILE variables: the credentials stay files, never environment.
                "env": [
                    {"name": "POSTGRES_USER_FILE", "value": "/etc/postgresql/credentials/username"},
                    {"name": "POSTGRES_PASSWORD_FILE", "value": "/etc/postgresql/credentials/password"},
                    {"name": "POSTGRES_DB", "value": args.database},
                    {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"},
                    {"name": "POSTGRES_INITDB_ARGS", "value": "--auth-host=scram-sha-256"},
                ],
                # -U: the probe runs outside the entrypoint's nss_wrapper, where uid 10999 has no user name.
                "readinessProbe": {"exec": {"command": ["pg_isready", "-h", "127.0.0.1", "-U", args.database, "-d", args.database]}, "periodSeconds": 10},
                "livenessProbe": {
                    "exec": {"command": ["pg_isready", "-h", "127.0.0.1", "-U", args.database, "-d", args.database]},
                    "initialDelaySeconds": 30,
                    "periodSeconds": 30,
                },
                "resources": resources("250m", "512Mi", cpu_limit="1", memory_limit="1Gi"),
                "volumeMounts": [
                    {"name": "tls", "mountPath": "/etc/postgresql/tls", "readOnly": True},
                    {"name": "credentials", "mountPath": "/etc/postgresql/credentials", "readOnly": True},
                    {"name": "run", "mountPath": "/var/run/postgresql"},
                    {"name": "tmp", "mountPath": "/tmp"},
                ],
            },
            [
                {"name": "tls", "secret": {"secretName": tls_secret, "defaultMode": 0o640}},
                {"name": "credentials", "secret": {"secretName": REGISTRY_DB_SECRET, "defaultMode": 0o440}},
                tmp_volume("run", "16Mi"),
                tmp_volume(),
            ],
            args.postgres_storage_gib,
            "/var/lib/postgresql/data",
            (),
        )

    def _statefulset_redis(self, name: str, ca_key: tls.PrivateKey, ca: tls.SelfSignedCert) -> None:
        args = self._args
        tls_secret = self._server_tls(name, "online-store", ca_key, ca)
        self._statefulset(
            name,
            "online-store",
            REDIS_UID,
            REDIS_PORT,
            {
                "name": "redis",
                "image": mirror_ref(args.registry_host, "redis"),
                # TLS only; the password comes from the mounted config (a Secret), never the environment.
                "args": [
                    "/etc/redis/redis.conf",
                    "--port",
                    "0",
                    "--tls-port",
                    str(REDIS_PORT),
                    "--tls-cert-file",
                    "/tls/tls.crt",
                    "--tls-key-file",
                    "/tls/tls.key",
                    "--tls-ca-cert-file",
                    "/tls/ca.crt",
                    "--tls-auth-clients",
                    "no",
                    "--appendonly",
                    "yes",
                    "--dir",
                    "/data",
                    "--protected-mode",
                    "no",
                ],
                "readinessProbe": {"tcpSocket": {"port": "service"}, "periodSeconds": 10},
                "livenessProbe": {"tcpSocket": {"port": "service"}, "initialDelaySeconds": 15, "periodSeconds": 30},
                "resources": resources("100m", "256Mi", cpu_limit="500m", memory_limit="512Mi"),
                "volumeMounts": [
                    {"name": "tls", "mountPath": "/tls", "readOnly": True},
                    {"name": "config", "mountPath": "/etc/redis", "readOnly": True},
                    {"name": "tmp", "mountPath": "/tmp"},
                ],
            },
            [
                {"name": "tls", "secret": {"secretName": tls_secret, "defaultMode": 0o440}},
                {"name": "config", "secret": {"secretName": "online-store-config", "defaultMode": 0o440}},
                tmp_volume(),
            ],
            args.redis_storage_gib,
            "/data",
            args.cache_clients,
        )

    def _statefulset_seaweedfs(self, name: str) -> None:
        args = self._args
        self._statefulset(
            name,
            "object-store",
            SEAWEEDFS_UID,
            S3_PORT,
            {
                "name": "seaweedfs",
                "image": mirror_ref(args.registry_host, "seaweedfs"),
                # One process: master, volume, filer and the S3 gateway; buckets are made on first write
                # by the admin identity (-s3.autoCreateBucket, default true in 4.44).
                "command": ["/usr/bin/weed"],
                "args": [
                    "server",
                    "-dir=/data",
                    "-ip.bind=0.0.0.0",
                    "-volume.max=0",
                    "-master.volumeSizeLimitMB=1024",
                    "-s3",
                    f"-s3.port={S3_PORT}",
                    "-s3.config=/etc/sahab/s3.json",
                    "-metricsPort=9327",
                ],
                "readinessProbe": {"tcpSocket": {"port": "service"}, "periodSeconds": 10},
                "livenessProbe": {"tcpSocket": {"port": "service"}, "initialDelaySeconds": 30, "periodSeconds": 30},
                "resources": resources("250m", "512Mi", cpu_limit="1", memory_limit="1Gi"),
                "volumeMounts": [{"name": "config", "mountPath": "/etc/sahab", "readOnly": True}, {"name": "tmp", "mountPath": "/tmp"}],
            },
            [{"name": "config", "secret": {"secretName": "object-store-config", "defaultMode": 0o440}}, tmp_volume()],
            args.object_store_storage_gib,
            "/data",
            args.object_store_clients,
            (("metrics", 9327),),
        )


def workload_env(object_store_url: pulumi.Input[str]) -> dict[str, Any]:
    """What every workload container needs to use the in-cluster services (ClusterCloud.workload_env):
    the object store's endpoint for boto3/s3fs, MLflow and Feast, its credentials, the private CA,
    and the database and cache credentials where their Secrets exist (optional elsewhere)."""

    def key(secret: str, name: str, optional: bool = False) -> dict[str, Any]:
        return {"valueFrom": {"secretKeyRef": {"name": secret, "key": name, **({"optional": True} if optional else {})}}}

    return {
        "AWS_ENDPOINT_URL_S3": object_store_url,
        "MLFLOW_S3_ENDPOINT_URL": object_store_url,
        "SAHAB_FEAST_S3_ENDPOINT_OVERRIDE": object_store_url,
        "AWS_ACCESS_KEY_ID": key(OBJECT_STORE_SECRET, "access_key"),
        "AWS_SECRET_ACCESS_KEY": key(OBJECT_STORE_SECRET, "secret_key"),
        "SAHAB_CA_PEM": {"valueFrom": {"configMapKeyRef": {"name": CA_CONFIG_MAP, "key": "ca.crt"}}},
        f"{REGISTRY_DB_ENV}USERNAME": key(REGISTRY_DB_SECRET, "username", optional=True),
        f"{REGISTRY_DB_ENV}PASSWORD": key(REGISTRY_DB_SECRET, "password", optional=True),
        f"{ONLINE_STORE_ENV}VALUE": key(ONLINE_STORE_SECRET, "value", optional=True),
    }
