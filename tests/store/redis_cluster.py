"""A real Redis Cluster for tests: redis-servers with ``--cluster-enabled yes`` on free ports in a
temp dir, joined by ``redis-cli --cluster create``; stopped afterwards.

Locally a missing binary skips with an install hint; in CI (CI=true) it fails instead.
"""

from __future__ import annotations

import random
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import redis

from tests.store.redis_server import require_binary, wait_ready

HOST = "127.0.0.1"
BUS_OFFSET = 10_000  # a cluster node also listens on port + 10000 (the cluster bus)


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def free_cluster_ports(n: int) -> list[int]:
    """``n`` ports whose cluster-bus ports (port + 10000) are free as well."""
    ports: list[int] = []
    while len(ports) < n:
        port = random.randint(20_000, 50_000)
        if port not in ports and _port_free(port) and _port_free(port + BUS_OFFSET):
            ports.append(port)
    return ports


@dataclass
class Cluster:
    ports: list[int]
    procs: dict[int, subprocess.Popen] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """The store URL naming one node (any node would do)."""
        return f"redis+cluster://{HOST}:{self.ports[0]}"

    def node(self, port: int) -> redis.Redis:
        return redis.Redis(host=HOST, port=port, socket_timeout=2)

    def masters(self) -> list[int]:
        """Ports of the nodes that are masters now, as the live nodes see it."""
        for port in self.alive():
            try:
                nodes = self.node(port).execute_command("CLUSTER NODES")  # {"host:port": {...}}
            except redis.RedisError:
                continue
            return sorted(
                int(addr.rsplit(":", 1)[1])
                for addr, node in nodes.items()
                if "master" in node["flags"] and "fail" not in node["flags"]
            )
        return []

    def alive(self) -> list[int]:
        return [p for p, proc in self.procs.items() if proc.poll() is None]

    def flush(self) -> None:
        for port in self.masters():
            self.node(port).flushall()

    def kill(self, port: int) -> None:
        """SIGKILL one node (a crash: no goodbye to the cluster)."""
        proc = self.procs[port]
        proc.kill()
        proc.wait(timeout=10)

    def wait_healthy(self, masters: int, replicas: int = 0, timeout: float = 30.0) -> None:
        """Until every live node says cluster_state:ok and sees ``masters`` masters, each with
        ``replicas`` replicas in sync."""
        deadline = time.monotonic() + timeout
        while True:
            if self._healthy(masters, replicas):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"Redis Cluster on {self.ports} not healthy in {timeout}s")
            time.sleep(0.1)

    def _healthy(self, masters: int, replicas: int) -> bool:
        try:
            for port in self.alive():
                if self.node(port).execute_command("CLUSTER INFO")["cluster_state"] != "ok":
                    return False
            current = self.masters()
            if len(current) != masters:
                return False
            for port in current:
                repl = self.node(port).info("replication")
                synced = [
                    k for k, v in repl.items() if k.startswith("slave") and v["state"] == "online"
                ]
                if len(synced) < replicas:
                    return False
        except redis.RedisError:
            return False
        return True


@contextmanager
def redis_cluster(
    workdir: Path, masters: int = 3, replicas: int = 0, node_timeout_ms: int = 1000
) -> Iterator[Cluster]:
    """Yield a healthy cluster of ``masters`` x (1 + ``replicas``) nodes; stop it afterwards."""
    server = require_binary("redis-server", "redis-server")
    cli = require_binary("redis-cli", "redis-tools")
    cluster = Cluster(free_cluster_ports(masters * (1 + replicas)))
    try:
        for port in cluster.ports:
            node_dir = workdir / f"node-{port}"
            node_dir.mkdir(parents=True, exist_ok=True)
            cluster.procs[port] = subprocess.Popen(
                [server, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no",
                 "--dir", str(node_dir), "--cluster-enabled", "yes",
                 "--cluster-config-file", "nodes.conf",
                 "--cluster-node-timeout", str(node_timeout_ms)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
        for port, proc in cluster.procs.items():
            wait_ready(proc, cluster.node(port), port)
        created = subprocess.run(
            [cli, "--cluster", "create", *(f"{HOST}:{p}" for p in cluster.ports),
             "--cluster-replicas", str(replicas), "--cluster-yes"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        if created.returncode != 0:
            raise RuntimeError(
                f"redis-cli --cluster create failed:\n{created.stdout}{created.stderr}"
            )
        cluster.wait_healthy(masters, replicas)
        yield cluster
    finally:
        for proc in cluster.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in cluster.procs.values():
            proc.wait(timeout=10)
