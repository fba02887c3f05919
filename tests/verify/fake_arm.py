"""A small Azure Resource Manager on 127.0.0.1 (HTTPS, self-signed), holding the uae-north plan as deployed.

Every pulumi-azure-native resource of the plan is served at its ARM id (sahab.engine.mocks.azure_resource,
the ids the offline engine gives) the way ARM answers a GET: `id`, `name`, `type`, `location`,
`tags`, `sku`, `kind`, `identity` at the top, everything else under `properties` with ARM's wire
names (the provider's input names, except where the REST spec renames them: STORAGE_WIRE). ARM's
own behaviour the client relies on: bearer tokens only (401 otherwise), `api-version` checked
against the one pulumi-azure-native 3.29.0 uses for the type (400 otherwise), 404 ResourceNotFound,
resource-group listings of tracked resources paged with `nextLink`, `$filter=tagName eq .. and
tagValue eq ..` over the subscription, child collections (`.../replications`).
Breaks are edits of `FakeArm.docs` (by ARM id, case-insensitive) between runs.
"""

from __future__ import annotations

import copy
import datetime
import importlib
import inspect
import ipaddress
import json
import re
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sahab.engine.mocks import AZURE_IDS, AZURE_SCOPED, SUBSCRIPTION_ID, azure_resource
from stacks.azure_offerings import AZURE_REGIONS

TOP_LEVEL = ("location", "tags", "sku", "kind", "identity", "zones", "extendedLocation")
# Storage's REST names where the provider's differ (checked: azure-mgmt-storage 25.3.0 models,
# rest_field(name=...): StorageAccountProperties, Encryption, KeyVaultProperties, EncryptionIdentity).
STORAGE_WIRE = {"enableHttpsTrafficOnly": "supportsHttpsTrafficOnly", "networkRuleSet": "networkAcls"}
ENCRYPTION_WIRE = {"keyVaultProperties": "keyvaultproperties", "encryptionIdentity": "identity"}
KEY_VAULT_WIRE = {"keyName": "keyname", "keyVaultUri": "keyvaulturi", "keyVersion": "keyversion"}
ENCRYPTION_IDENTITY_WIRE = {"encryptionUserAssignedIdentity": "userAssignedIdentity"}
# Nested types ARM lists with their resource group (tracked resources with a location of their own).
LISTED_NESTED = {"microsoft.network/privatednszones/virtualnetworklinks", "microsoft.containerregistry/registries/replications"}
PAGE = 25


def arm_type(rid: str) -> str:
    """`Microsoft.Storage/storageAccounts/blobServices/containers` of an ARM id."""
    if "/providers/" not in rid:
        return "Microsoft.Resources/resourceGroups"
    parts = rid.rsplit("/providers/", 1)[1].split("/")
    return "/".join([parts[0], *parts[1::2]])


def _api_versions() -> dict[str, str]:
    """ARM type -> the api-version pulumi-azure-native's module for it documents."""
    out = {}
    for token in [*AZURE_IDS, *AZURE_SCOPED]:
        _, module, name = token.split(":")
        # The class's own source file (a name like PublicIPAddress does not snake-case to its file name).
        source = Path(inspect.getsourcefile(getattr(importlib.import_module(f"pulumi_azure_native.{module}"), name)) or "")
        found = re.search(r"Uses Azure REST API version ([0-9a-z-]+)", source.read_text())
        if found:
            template = AZURE_IDS.get(token) or f"x/providers/{AZURE_SCOPED[token][1]}/{{n}}"
            out[arm_type("/x/providers/" + template.split("/providers/")[-1])] = found.group(1)
    return out


def _renamed(value: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    return {names.get(k, k): v for k, v in value.items()}


def _storage_wire(props: dict[str, Any], location: str, sku: str) -> dict[str, Any]:
    props = _renamed(props, STORAGE_WIRE)
    enc = props.get("encryption")
    if isinstance(enc, dict):
        enc = _renamed(enc, ENCRYPTION_WIRE)
        if isinstance(enc.get("keyvaultproperties"), dict):
            enc["keyvaultproperties"] = _renamed(enc["keyvaultproperties"], KEY_VAULT_WIRE)
        if isinstance(enc.get("identity"), dict):
            enc["identity"] = _renamed(enc["identity"], ENCRYPTION_IDENTITY_WIRE)
        props["encryption"] = enc
    if sku.split("_")[-1].upper() in ("GRS", "RAGRS", "GZRS", "RAGZRS") and location in AZURE_REGIONS:
        props.update(secondaryLocation=AZURE_REGIONS[location].pair, statusOfSecondary="available")
    return {**props, "statusOfPrimary": "available"}


def arm_document(stack: str, token: str, logical: str, inputs: dict[str, Any], location: str) -> dict[str, Any]:
    """One resource as ARM answers a GET of it, from the plan's inputs and the provider's state."""
    rid, state = azure_resource(stack, token, logical, inputs, location)
    if token in AZURE_SCOPED:
        path = {AZURE_SCOPED[token][0], AZURE_SCOPED[token][2]}
    else:
        template = AZURE_IDS.get(token, "")
        path = {p[1:-1] for p in template.split("/") if p.startswith("{")}
    path |= {"resourceGroupName", "name", "azureApiVersion"}
    doc = {"id": rid, "name": state["name"], "type": arm_type(rid)}
    doc.update({k: state[k] for k in TOP_LEVEL if k in state})
    if token.startswith("azure-native:keyvault:"):
        given = state.get("properties")
        props = dict(given) if isinstance(given, dict) and "4dabf18193072939515e22adb298388d" not in given else {}
        props.update({k: v for k, v in state.items() if k in ("keyUri", "keyUriWithVersion")})
    else:
        props = {k: v for k, v in state.items() if k not in path and k not in TOP_LEVEL}
    if token == "azure-native:storage:StorageAccount":
        props = _storage_wire(props, str(state.get("location")), str((state.get("sku") or {}).get("name")))
    if token == "azure-native:resources:ResourceGroup":
        props = {}
    doc["properties"] = {**props, "provisioningState": "Succeeded"}
    return doc


def plan_documents(plan) -> dict[str, dict[str, Any]]:
    """Every azure-native resource of the plan as ARM holds it once deployed, by lower-cased id;
    plus the AKS node resource group with one scale set per agent pool (AKS creates them)."""
    location = str(plan.config.get("azure-native:location") or "uaenorth")
    docs = {}
    for r in plan.resources:
        if r.type.startswith("azure-native:") and r.custom and not r.type.startswith("pulumi:"):
            # The plan shows secret inputs as "[secret]"; ARM never returns a secret's value either.
            inputs = {k: v for k, v in r.inputs.items() if v != "[secret]"}
            doc = arm_document(plan.stack, r.type, r.name, inputs, location)
            docs[doc["id"].lower()] = doc
    for r in plan.by_type("azure-native:containerservice:ManagedCluster"):
        group = r.inputs.get("nodeResourceGroup")
        if not group:
            continue
        rg = f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{group}"
        docs[rg.lower()] = {
            "id": rg,
            "name": group,
            "type": "Microsoft.Resources/resourceGroups",
            "location": location,
            "managedBy": f"/subscriptions/{SUBSCRIPTION_ID}/{r.inputs['resourceGroupName']}",
            "properties": {"provisioningState": "Succeeded"},
        }
        pools = [p["name"] for p in r.inputs.get("agentPoolProfiles") or []] + [
            p.inputs["agentPoolName"] for p in plan.by_type("azure-native:containerservice:AgentPool")
        ]
        for pool in pools:
            vmss = f"{rg}/providers/Microsoft.Compute/virtualMachineScaleSets/aks-{pool}-vmss"
            docs[vmss.lower()] = {
                "id": vmss,
                "name": f"aks-{pool}-vmss",
                "type": "Microsoft.Compute/virtualMachineScaleSets",
                "location": location,
                "properties": {"provisioningState": "Succeeded"},
            }
    return docs


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (and its key), made with `cryptography`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-arm")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "fake-arm.pem", directory / "fake-arm.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_path, key_path


@dataclass
class FakeArm:
    url: str
    cert: Path
    subscription: str
    docs: dict[str, dict[str, Any]]
    pristine: dict[str, dict[str, Any]]
    requests: list[str] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)
    """Authorization headers seen (which credential reached it)."""
    denied: set[str] = field(default_factory=set)
    """Lower-cased id prefixes (a resource group) the caller has no role on: 403 AuthorizationFailed, as ARM answers."""

    def doc(self, rid: str) -> dict[str, Any]:
        return self.docs[rid.lower()]

    def find(self, arm_type_: str, name: str | None = None) -> dict[str, Any]:
        found = [d for d in self.docs.values() if d["type"].lower() == arm_type_.lower() and (name is None or d["name"] == name)]
        assert len(found) == 1, f"expected one {arm_type_} {name or ''}, found {[d['id'] for d in found]}"
        return found[0]

    def put(self, doc: dict[str, Any]) -> None:
        self.docs[doc["id"].lower()] = doc

    def reset(self) -> None:
        self.docs.clear()
        self.docs.update(copy.deepcopy(self.pristine))
        self.requests.clear()
        self.denied.clear()


def _handler(fake: FakeArm, versions: dict[str, str]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-ms-request-id", "fake")
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, code: str, message: str) -> None:
            self._send(status, {"error": {"code": code, "message": message}})

        def _page(self, items: list[dict[str, Any]], query: dict[str, list[str]]) -> None:
            start = int((query.get("$skiptoken") or ["0"])[0])
            body: dict[str, Any] = {"value": items[start : start + PAGE]}
            if start + PAGE < len(items):
                rest = "&".join(f"{k}={v[0]}" for k, v in query.items() if k != "$skiptoken")
                body["nextLink"] = f"{fake.url}{urlsplit(self.path).path}?{rest}&$skiptoken={start + PAGE}"
            self._send(200, body)

        def do_GET(self) -> None:
            fake.requests.append(self.path)
            fake.tokens.add(self.headers.get("Authorization") or "")
            if not (self.headers.get("Authorization") or "").startswith("Bearer "):
                return self._error(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")
            split = urlsplit(self.path)
            path, query = split.path.rstrip("/"), parse_qs(split.query)
            low = path.lower()
            sub = f"/subscriptions/{fake.subscription}".lower()
            if not low.startswith(sub):
                return self._error(404, "SubscriptionNotFound", f"The subscription '{path.split('/')[2] if path.count('/') > 1 else ''}' could not be found.")
            # Listings hold tracked resources, not extension resources (role assignments, diagnostic settings).
            tracked = [
                d
                for d in fake.docs.values()
                if d["type"] != "Microsoft.Resources/resourceGroups"
                and d["id"].lower().count("/providers/") == 1
                and (d["type"].count("/") == 1 or d["type"].lower() in LISTED_NESTED)
            ]

            def listing(items):
                return [
                    {k: d[k] for k in ("id", "name", "type", "location", "tags", "sku", "kind", "identity") if k in d}
                    for d in sorted(items, key=lambda d: d["id"])
                ]

            if any(low == d or low.startswith(d + "/") for d in fake.denied):
                return self._error(
                    403, "AuthorizationFailed", f"The client does not have authorization to perform action 'read' over scope '{path}' or the scope is invalid."
                )
            m = re.fullmatch(re.escape(sub) + r"/resourcegroups/([^/]+)/resources", low)
            if m:
                if f"{sub}/resourcegroups/{m.group(1)}" not in fake.docs:
                    return self._error(404, "ResourceGroupNotFound", f"Resource group '{m.group(1)}' could not be found.")
                return self._page(listing([d for d in tracked if d["id"].lower().startswith(f"{sub}/resourcegroups/{m.group(1)}/")]), query)
            if low == f"{sub}/resources":
                f = re.fullmatch(r"tagName eq '([^']*)' and tagValue eq '([^']*)'", (query.get("$filter") or [""])[0])
                items = [d for d in tracked if not f or (d.get("tags") or {}).get(f.group(1)) == f.group(2)]
                return self._page(listing(items), query)
            if low in fake.docs:
                doc = fake.docs[low]
                want = None if doc["type"] == "Microsoft.Resources/resourceGroups" else versions.get(doc["type"])
                got = (query.get("api-version") or [""])[0]
                if want and got != want:
                    return self._error(
                        400,
                        "NoRegisteredProviderFound",
                        f"No registered resource provider found for api version '{got}' of {doc['type']} (this fake serves {want}).",
                    )
                return self._send(200, doc)
            parent, _, child = low.rpartition("/")
            if parent in fake.docs and child:
                kind = arm_type(fake.docs[parent]["id"] + f"/{child}/x")
                want, got = versions.get(kind), (query.get("api-version") or [""])[0]
                if want and got != want:
                    return self._error(
                        400, "NoRegisteredProviderFound", f"No registered resource provider found for api version '{got}' of {kind} (this fake serves {want})."
                    )
                kids = [d for d in fake.docs.values() if d["id"].lower().rpartition("/")[0] == f"{parent}/{child}"]
                return self._page(sorted(kids, key=lambda d: d["id"]), query)
            return self._error(404, "ResourceNotFound", f"The Resource '{path.split('/providers/')[-1]}' under resource group was not found.")

    return Handler


@contextmanager
def serve(plan, directory: Path) -> Iterator[FakeArm]:
    """The fake ARM on a free loopback port, holding `plan` as deployed; stopped on exit."""
    cert, key = self_signed(directory)
    docs = plan_documents(plan)
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    fake = FakeArm(url=f"https://127.0.0.1:{server.server_address[1]}", cert=cert, subscription=SUBSCRIPTION_ID, docs=docs, pristine=copy.deepcopy(docs))
    server.RequestHandlerClass = _handler(fake, _api_versions())
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
