"""Connecting to a Ray cluster, or starting a local one that sends nothing off the machine.

Ray rewrites 127.0.0.1 to the machine's external address and, on start, reports usage statistics; a local Ray
started by simvec binds to another loopback address (127.0.0.2, which Ray leaves alone) with usage statistics off
and their URL pointed at loopback. An address that does not answer is refused within `CONNECT_TIMEOUT_S` with an
error naming it, instead of Ray's own minute of retries.
"""

from __future__ import annotations

import os
import socket
import time

from simvec.errors import InputError, MissingDependencyError, Unavailable

CONNECT_TIMEOUT_S = 10.0
# Ray Client starts one server process per connection on the head; on a loaded head that process sometimes dies at
# once (its log empty, the proxy logging "SpecificServer startup failed" next to gRPC's "skipping fork() handlers"),
# and a new connection gets a new process: so a ray:// connection is tried this many times.
CLIENT_SERVER_ATTEMPTS = 3
CLIENT_SERVER_FAILED = "Starting Ray client server failed"
LOCAL_NODE_IP = "127.0.0.2"
# Environment of a Ray that must not talk to the outside: no usage report, and its URL on loopback in any case.
LOOPBACK_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_USAGE_STATS_REPORT_URL": "http://127.0.0.1:9/"}
# Ray's head probes cloud metadata servers (169.254.169.254, metadata.google.internal) over HTTP even with usage
# statistics off; an HTTP proxy on a closed loopback port makes those requests fail on the machine, without a DNS
# query, while Ray's own connections (to loopback, listed in NO_PROXY) go direct. Only the processes of a local Ray
# get it: the variables are set while `ray.init` spawns them and restored after.
LOCAL_RAY_ENV = {
    **LOOPBACK_ENV,
    **{name: "http://127.0.0.1:9" for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")},
    **{name: f"localhost,127.0.0.1,{LOCAL_NODE_IP}" for name in ("no_proxy", "NO_PROXY")},
}


def host_port(address: str) -> tuple[str, int]:
    """(host, port) of `host:port` or `ray://host:port`; an InputError names a malformed address."""
    rest = address.removeprefix("ray://")
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"Ray address {address!r} is not auto, host:port or ray://host:port")
    return host.strip("[]"), int(port)


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Refuse, naming the address, a Ray address where nothing accepts a TCP connection within `timeout` seconds."""
    host, port = host_port(address)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise Unavailable(
            f"no Ray cluster reachable at {address} ({reason} within {timeout:g} s); start one with `ray start "
            "--head` or give --address of a running cluster"
        ) from None


def connect(address: str | None, num_cpus: int | None = None, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Join the Ray cluster at `address` ("auto", host:port, ray://host:port), or start a loopback-only local one."""
    try:
        import ray
    except ImportError as exc:
        raise MissingDependencyError(
            "--engine ray needs Ray Data; install it with: pip install 'simvec[scale]' (or 'ray[data]')"
        ) from exc
    if ray.is_initialized():
        return
    if address is None:
        saved = {name: os.environ.get(name) for name in LOCAL_RAY_ENV}
        os.environ.update(LOCAL_RAY_ENV)
        try:
            ray.init(
                num_cpus=num_cpus,
                include_dashboard=False,
                _node_ip_address=LOCAL_NODE_IP,
                configure_logging=False,
                log_to_driver=False,
            )
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        return
    os.environ.update(LOOPBACK_ENV)
    if address != "auto":
        check_reachable(address, timeout)
    for attempt in range(1, CLIENT_SERVER_ATTEMPTS + 1):
        try:
            ray.init(address=address, configure_logging=False, log_to_driver=False)
            return
        except ConnectionError as exc:
            if CLIENT_SERVER_FAILED not in str(exc) or attempt == CLIENT_SERVER_ATTEMPTS:
                tries = f" (tried {attempt} times)" if attempt > 1 else ""
                raise Unavailable(f"no Ray cluster reachable at {address}{tries}: {exc}") from None
            ray.shutdown()
            time.sleep(attempt)


def disconnect() -> None:
    """Leave the cluster (and stop the local Ray this process started, if it did)."""
    import ray

    if ray.is_initialized():
        ray.shutdown()
