"""Helpers shared by the tests and the benchmarks: a throwaway redis-server on a free loopback
port, started without persistence and stopped (or restarted on the same port) on demand; a
server process that is up once its port answers, and stopped on exit; an ASGI app on a real
uvicorn server in a thread; a raw-socket HTTP exchange with bounded waits."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

__all__ = ["free_port", "wait_port", "spawned", "redis_answers", "RedisServer", "throwaway_redis", "uvicorn_in_thread",
           "raw_exchange"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen[bytes], wait_s: float = 20.0, log: Path | None = None) -> None:
    """Return once something listens on 127.0.0.1:`port`; raise if `proc` exits first (with the
    tail of its stderr when `log` holds it) or `wait_s` passes."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = ""
            if log is not None:
                with contextlib.suppress(OSError):
                    tail = "; stderr: " + log.read_text("utf-8", "replace")[-2000:].strip()
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}{tail}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {wait_s} s")


@contextmanager
def spawned(args: list[str], port: int, *, cwd: Path | None = None, stderr: int | None = None,
            wait_s: float = 20.0, stop_s: float = 5.0) -> Iterator[subprocess.Popen[bytes]]:
    """A server process, yielded once its port answers; terminated (killed after `stop_s`) on exit.
    Its stderr goes to a temporary file (unless `stderr` says where), so a process that exits
    before it listens says why."""
    log = None
    if stderr is None:
        fd, name = tempfile.mkstemp(prefix="gate-spawned-", suffix=".log")
        log, stderr = Path(name), fd
    proc = subprocess.Popen(args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=stderr)
    if log is not None:
        os.close(stderr)
    try:
        wait_port(port, proc, wait_s, log)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(stop_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(stop_s)
        if log is not None:
            log.unlink(missing_ok=True)


def redis_answers(port: int, timeout_s: float = 0.2) -> bool:
    """True when a Redis on `port` replies PONG (raw RESP, so no client library is involved)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """A redis-server process without persistence; `stop()` and `start()` keep the same port."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, wait_s: float = 10.0) -> None:
        assert self.proc is None, "already running"
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir), "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + wait_s
        for _ in range(1000):  # bounded in count and in time
            if redis_answers(self.port):
                return
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                self.proc = None
                raise RuntimeError(f"redis-server exited with {err.strip() or 'no message'}")
            if time.monotonic() > deadline:
                break
            time.sleep(0.01)
        self.stop()
        raise RuntimeError(f"redis-server did not answer on port {self.port} within {wait_s} s")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        if proc.stderr:
            proc.stderr.close()


@contextmanager
def throwaway_redis(binary: str) -> Iterator[RedisServer]:
    """A started `RedisServer` in a temporary directory, stopped on exit."""
    with tempfile.TemporaryDirectory() as workdir:
        server = RedisServer(binary, Path(workdir))
        server.start()
        try:
            yield server
        finally:
            server.stop()


@contextmanager
def uvicorn_in_thread(app: Any, http: Any = "httptools", wait_s: float = 10.0) -> Iterator[int]:
    """`app` on a real uvicorn server (`http`: a protocol name or class) on an ephemeral loopback
    port, in a daemon thread with its own event loop; yields the port, stops the server on exit."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, http=http, loop="asyncio", log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + wait_s
        while not server.started and time.monotonic() < deadline and thread.is_alive():
            time.sleep(0.01)
        if not server.started:
            raise RuntimeError(f"uvicorn did not start in {wait_s} s")
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(wait_s)
        sock.close()


def raw_exchange(port: int, parts: list[bytes], pause_s: float = 0.0, wait_s: float = 5.0) -> tuple[bytes, float, bool]:
    """Send `parts` to 127.0.0.1:`port` on one connection (pausing `pause_s` between them), then
    read until the server closes or `wait_s` passes: (what came back, seconds from the last part
    sent to the first byte back, whether the server closed the connection)."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait_s) as s:
        for i, part in enumerate(parts):
            if i:
                time.sleep(pause_s)
            s.sendall(part)
        t0 = time.monotonic()
        first = None
        data = b""
        deadline = t0 + wait_s
        while time.monotonic() < deadline:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                break
            except ConnectionResetError:
                return data, (first or time.monotonic()) - t0, True
            if not chunk:
                return data, (first or time.monotonic()) - t0, True
            first = first or time.monotonic()
            data += chunk
        return data, (first or time.monotonic()) - t0, False
