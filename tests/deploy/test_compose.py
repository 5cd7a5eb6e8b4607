"""deploy/compose.yaml: valid by the compose-spec schema, and consistent with the app."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import ipaddress
from typing import Any
from urllib.parse import unquote

import pytest

from monumento.cli import _parser
from rtc.peers.ice import parse_host_addresses, parse_ice_servers, parse_port_range
from tests.deploy.files import (
    COMPOSE,
    SETTINGS,
    duration_seconds,
    load_yaml,
    vendored_schema_errors,
)

COTURN_LATEST_EXPIRY = 2**31 - 1  # January 2038


@pytest.fixture
def compose() -> Any:
    return load_yaml(COMPOSE)


def app_nodes(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services built from this repository's Dockerfile."""
    return {name: service for name, service in compose["services"].items() if "build" in service}


def test_compose_file_is_valid_by_the_compose_spec(compose: dict[str, Any]) -> None:
    assert vendored_schema_errors("compose-spec", compose) == []


def test_an_invalid_compose_file_is_refused(compose: dict[str, Any]) -> None:
    broken = copy.deepcopy(compose)
    broken["services"]["node-a"]["stop_grace_periods"] = "630s"  # a misspelt key
    del broken["services"]["postgres"]["image"]
    broken["services"]["redis"]["ports"] = {"6379": 6379}  # a mapping where a list goes
    errors = vendored_schema_errors("compose-spec", broken)
    assert any("stop_grace_periods" in error for error in errors), errors
    assert any(error.startswith("services/redis/ports") for error in errors), errors


def test_two_app_nodes_share_one_database_redis_secret_and_bucket(
    compose: dict[str, Any],
) -> None:
    nodes = app_nodes(compose)
    assert len(nodes) == 2
    environments = [node["environment"] for node in nodes.values()]
    for shared in ("DATABASE_URL", "REDIS_URL", "JWT_SECRET", "S3_BUCKET", "S3_ENDPOINT_URL"):
        values = {environment[shared] for environment in environments}
        assert len(values) == 1, f"{shared} differs between the nodes: {values}"
    assert all(len(environment["JWT_SECRET"]) >= 32 for environment in environments)
    assert {environment["NODE_ID"] for environment in environments} == set(nodes)
    assert all(environment["MEDIA_STORAGE"] == "s3" for environment in environments)
    assert environments[0]["DATABASE_URL"].startswith("postgresql://")
    assert "@postgres:" in environments[0]["DATABASE_URL"]
    assert environments[0]["REDIS_URL"].startswith("redis://redis:")


def test_the_bucket_the_nodes_use_is_created_before_they_start(compose: dict[str, Any]) -> None:
    services = compose["services"]
    bucket = next(iter(app_nodes(compose).values()))["environment"]["S3_BUCKET"]
    (init_command,) = services["minio-bucket"]["command"]
    assert f"mc mb --ignore-existing local/{bucket}" in init_command
    for node in app_nodes(compose).values():
        assert node["depends_on"]["minio-bucket"] == {"condition": "service_completed_successfully"}


def test_every_service_has_a_health_check_and_one_shots_are_awaited(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    awaited = {
        dependency
        for service in services.values()
        for dependency, how in service.get("depends_on", {}).items()
        if how["condition"] == "service_completed_successfully"
    }
    for name, service in services.items():
        if service.get("restart") == "no":
            assert name in awaited, f"{name} runs once but nothing waits for it to finish"
        else:
            assert service["healthcheck"]["test"][0] == "CMD", name
    assert {"postgres", "redis", "rabbitmq", "minio", "coturn"} <= set(services)


def test_nodes_are_ready_by_readyz_and_stop_after_their_drain(compose: dict[str, Any]) -> None:
    for name, node in app_nodes(compose).items():
        assert "/readyz" in " ".join(node["healthcheck"]["test"]), name
        drain = float(node["environment"]["DRAIN_TIMEOUT_SECONDS"])
        grace = duration_seconds(node["stop_grace_period"])
        assert grace >= drain + 10, f"{name}: stop_grace_period {grace} s < drain {drain} s"


def test_services_run_only_commands_the_cli_has(compose: dict[str, Any]) -> None:
    """So no `monumento worker` service before issue 14 adds the command."""
    for node in app_nodes(compose).values():
        program, *arguments = node["command"]
        assert program == "monumento"
        _parser().parse_args(arguments)  # exits (fails the test) on an unknown command or flag
    assert [node["command"][1] for node in app_nodes(compose).values()] == ["serve", "serve"]


def test_every_variable_set_on_a_node_is_a_setting(compose: dict[str, Any]) -> None:
    for name, node in app_nodes(compose).items():
        unknown = set(node["environment"]) - SETTINGS
        assert not unknown, f"{name} sets {unknown}, which are not settings"


def test_each_node_binds_its_own_address_and_a_published_udp_range(
    compose: dict[str, Any],
) -> None:
    taken: set[int] = set()
    for name, node in app_nodes(compose).items():
        environment = node["environment"]
        (address,) = parse_host_addresses(environment["RTC_HOST_ADDRESSES"])
        assert node["networks"]["monumento"]["ipv4_address"] == address, name
        subnet = compose["networks"]["monumento"]["ipam"]["config"][0]["subnet"]
        assert ipaddress.ip_address(address) in ipaddress.ip_network(subnet)
        port_range = parse_port_range(environment["RTC_UDP_PORTS"])
        assert port_range is not None
        low, high = port_range
        ports = set(range(low, high + 1))
        assert not ports & taken, f"{name}'s UDP range overlaps another node's"
        taken |= ports
        assert f"{low}-{high}:{low}-{high}/udp" in node["ports"], name


def test_the_nodes_turn_credential_is_made_from_coturns_secret(compose: dict[str, Any]) -> None:
    services = compose["services"]
    flags = dict(
        flag.removeprefix("--").partition("=")[::2]
        for flag in services["coturn"]["command"]
        if flag.startswith("--")
    )
    assert "use-auth-secret" in flags
    secret = flags["static-auth-secret"]
    for node in app_nodes(compose).values():
        environment = node["environment"]
        assert environment["TURN_SECRET"] == secret
        (server,) = parse_ice_servers(environment["ICE_SERVERS"])
        assert server.urls == "turn:coturn:3478"
        assert server.username is not None and server.credential is not None
        digest = hmac.new(secret.encode(), server.username.encode(), hashlib.sha1).digest()
        assert server.credential == base64.b64encode(digest).decode()
        expiry, _, _ = unquote(server.username).partition(":")
        # Far off, so the credential is static, but within 32 bits: coturn refuses later ones.
        assert int(expiry) == COTURN_LATEST_EXPIRY


def test_the_load_balancer_spreads_over_ready_nodes_and_is_trusted_by_them(
    compose: dict[str, Any],
) -> None:
    caddyfile = compose["configs"]["caddyfile"]["content"]
    balancer = compose["services"]["load-balancer"]
    balancer_address = balancer["networks"]["monumento"]["ipv4_address"]
    assert "health_uri /readyz" in caddyfile
    for node in app_nodes(compose).values():
        address = node["networks"]["monumento"]["ipv4_address"]
        assert f"{address}:8080" in caddyfile
        command = node["command"]
        assert command[command.index("--forwarded-allow-ips") + 1] == balancer_address
