"""``gateway serve`` on several cores: a supervisor and its worker processes (GATEWAY_WORKERS).

The gateway's Python runs on one core at a time (the GIL). With ``GATEWAY_WORKERS=N`` above one,
``gateway serve`` becomes a supervisor that runs ``python -m gateway serve`` N times, each worker
told its index in ``GATEWAY_WORKER``. Every worker binds the participants' port with
SO_REUSEPORT, so the kernel spreads new connections over them. The primary (index 0) alone
binds the ops port, publishes again what a stop left unconfirmed, and runs the SLA monitor, the
retention job and the dead-letter watch; it starts first, so that it migrates the ledger before
anyone else opens it.

Each worker has a socket to the supervisor: it says there when it serves, the primary hears there
when all of them do (its ``/readyz`` says ``workers: false`` until then), and a worker whose
supervisor was killed outright sees the socket close and stops. The counters are shared through
prometheus_client's multiprocess mode, in a directory the supervisor makes and removes.

SIGTERM or SIGINT to the supervisor goes on to every worker, which finishes its requests in flight
as a single gateway does. A worker that dies otherwise is replaced. A worker that cannot start
when the gateway starts (a bad setting, an unreachable ledger) stops it all at once, with the
worker's exit status; a replacement that keeps failing to start does so after a few tries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from prometheus_client.multiprocess import mark_process_dead

from gateway.config import Settings
from gateway.errors import ConfigError

log = logging.getLogger(__name__)

WORKER_ENV = "GATEWAY_WORKER"
SOCKET_ENV = "GATEWAY_WORKER_SOCKET"
METRICS_ENV = "PROMETHEUS_MULTIPROC_DIR"

# What goes over a worker's socket: it serves (to the supervisor); all serve (to the primary).
SERVING = b"s"
ALL_SERVING = b"a"

# A worker's own stop waits up to server.SHUTDOWN_GRACE (30 s) for requests in flight and as
# long again for its connections to close; a worker still running after this is killed.
STOP_GRACE = 75.0
# A replacement that dies before it serves is tried again after 1, 2, 4 ... s, this many times.
START_TRIES = 5


class Worker:
    """This process as worker ``index`` of a supervisor (from the environment it was given)."""

    def __init__(self, index: int, socket_fd: int, metrics_dir: Path) -> None:
        self.index = index
        self.socket_fd = socket_fd
        self.metrics_dir = metrics_dir
        self.all_serving = asyncio.Event()
        """Set in the primary when the supervisor says that every worker serves."""
        self._writer: asyncio.StreamWriter | None = None
        self._listening: asyncio.Task[None] | None = None

    @property
    def primary(self) -> bool:
        return self.index == 0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Worker | None:
        """The worker this process is, or None when it is no supervisor's worker."""
        raw = env.get(WORKER_ENV)
        if not raw:
            return None
        try:
            index, socket_fd = int(raw), int(env[SOCKET_ENV])
            metrics_dir = Path(env[METRICS_ENV])
        except (KeyError, ValueError):
            raise ConfigError(
                f"{WORKER_ENV}={raw!r}: set by gateway serve for the workers it starts, "
                f"with {SOCKET_ENV} and {METRICS_ENV}; not a setting"
            ) from None
        return cls(index, socket_fd, metrics_dir)

    async def serving(self, stop: asyncio.Event) -> None:
        """Tell the supervisor that this worker serves; set ``stop`` if the supervisor is gone."""
        channel = socket.socket(fileno=self.socket_fd)
        reader, self._writer = await asyncio.open_unix_connection(sock=channel)
        self._writer.write(SERVING)
        await self._writer.drain()
        self._listening = asyncio.create_task(self._listen(reader, stop), name="supervisor")

    async def _listen(self, reader: asyncio.StreamReader, stop: asyncio.Event) -> None:
        while said := await reader.read(1):
            if said == ALL_SERVING:
                self.all_serving.set()
        # Killed outright, the supervisor could not pass a stop on; nobody else would.
        if not stop.is_set():
            log.warning("the supervisor is gone: stopping")
            stop.set()

    def close(self) -> None:
        if self._listening is not None:
            self._listening.cancel()
        if self._writer is not None:
            self._writer.close()


async def supervise(settings: Settings) -> int:
    """Run ``settings.workers`` workers until a signal stops them; the exit status."""
    check_port_free(settings.host, settings.port)
    metrics_dir = Path(tempfile.mkdtemp(prefix="gateway-metrics-"))
    try:
        return await Supervisor(settings, metrics_dir).run()
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def check_port_free(host: str, port: int) -> None:
    """Refuse a port something already listens on. The workers share theirs by SO_REUSEPORT,
    which would let them share it with any other listener that set it too (another gateway's
    workers): the kernel would split the connections between the two."""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(f"GATEWAY_HOST={host!r}: {exc.strerror or exc}") from exc
    for family, kind, protocol, _, address in addresses:
        with socket.socket(family, kind, protocol) as probe:
            # As the workers will: a connection of an earlier run in TIME_WAIT is no obstacle.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                raise ConfigError(
                    f"GATEWAY_PORT={port}: cannot listen on {host}:{port}: {exc.strerror or exc}"
                ) from exc


class Supervisor:
    """Starts the workers, keeps them running, and stops them when told to."""

    def __init__(self, settings: Settings, metrics_dir: Path) -> None:
        self.settings = settings
        self.metrics_dir = metrics_dir
        self.processes: dict[int, asyncio.subprocess.Process] = {}
        self.channels: dict[int, asyncio.StreamWriter] = {}
        self.serving: set[int] = set()
        self.signalled: set[int] = set()
        """The pids a stop was passed on to (a second signal could cut a worker's own stop)."""
        self.stopping = asyncio.Event()
        self.status = 0
        """What the supervisor exits with: 0 after a clean stop."""

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._on_signal, sig)
        count = self.settings.workers
        log.info("starting %d workers on port %d", count, self.settings.port)
        keepers: list[asyncio.Task[None]] = []
        try:
            # The primary first: it migrates the ledger, which two at once could not do.
            statuses = [await self._start(0)]
            if statuses == [None]:
                statuses += await asyncio.gather(*(self._start(i) for i in range(1, count)))
            failed = [status for status in statuses if status is not None]
            if not failed:
                keepers = [asyncio.create_task(self._keep(index)) for index in range(count)]
            elif not self.stopping.is_set():
                self._give_up("a worker could not start", max(failed[0], 1))
            await self.stopping.wait()
        finally:
            for keeper in keepers:
                keeper.cancel()
            await asyncio.gather(*keepers, return_exceptions=True)
            await self._stop_all()
        return self.status

    def _on_signal(self, sig: signal.Signals) -> None:
        log.info("%s: stopping the workers", sig.name)
        self.stopping.set()
        self._forward(sig)

    def _forward(self, sig: signal.Signals) -> None:
        for process in self.processes.values():
            if process.returncode is None and process.pid not in self.signalled:
                process.send_signal(sig)
                self.signalled.add(process.pid)

    def _give_up(self, why: str, status: int) -> None:
        log.error("%s: stopping the gateway", why)
        self.status = status
        self.stopping.set()
        self._forward(signal.SIGTERM)

    async def _start(self, index: int) -> int | None:
        """Start worker ``index``: None once it serves, its exit status if it ended before."""
        ours, theirs = socket.socketpair()
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "gateway",
                "serve",
                env=self._environment(index, theirs.fileno()),
                pass_fds=(theirs.fileno(),),
                # Its own process group: a ^C in the terminal reaches the workers once, from us.
                process_group=0,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self.processes[index] = process
        reader, self.channels[index] = await asyncio.open_unix_connection(sock=ours)
        log.info("worker %d started (pid %d)", index, process.pid)
        if self.stopping.is_set():
            self._forward(signal.SIGTERM)  # started while the others were told to stop
        if await reader.read(1) == SERVING:  # or nothing: it ended
            self.serving.add(index)
            if len(self.serving) == self.settings.workers:
                self._tell_primary()
            return None
        status = await process.wait()
        self._dead(index, process)
        if not self.stopping.is_set():
            log.error("worker %d (pid %d) %s before it served", index, process.pid, _how(status))
        return status

    def _environment(self, index: int, socket_fd: int) -> dict[str, str]:
        # The command line's options travel as the settings they override.
        return {
            **os.environ,
            "GATEWAY_CERTS": str(self.settings.certs_dir),
            "GATEWAY_HOST": self.settings.host,
            "GATEWAY_PORT": str(self.settings.port),
            "GATEWAY_OPS_PORT": str(self.settings.ops_port),
            "GATEWAY_WORKERS": str(self.settings.workers),
            WORKER_ENV: str(index),
            SOCKET_ENV: str(socket_fd),
            METRICS_ENV: str(self.metrics_dir),
        }

    def _tell_primary(self) -> None:
        self.channels[0].write(ALL_SERVING)
        log.info("all %d workers serving", self.settings.workers)

    async def _keep(self, index: int) -> None:
        """Replace worker ``index`` whenever it dies, until the stop or too many failed starts."""
        while True:
            process = self.processes[index]
            status = await process.wait()
            self._dead(index, process)
            if self.stopping.is_set():
                return
            log.warning("worker %d (pid %d) %s: starting another", index, process.pid, _how(status))
            for attempt in range(START_TRIES):
                if attempt:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.stopping.wait(), 2.0 ** (attempt - 1))
                if self.stopping.is_set():
                    return
                if await self._start(index) is None:
                    break
            else:
                self._give_up(f"worker {index} failed to start {START_TRIES} times", 1)
                return

    def _dead(self, index: int, process: asyncio.subprocess.Process) -> None:
        self.serving.discard(index)
        self.channels[index].close()
        # The multiprocess bookkeeping: a dead worker's live gauges no longer count.
        mark_process_dead(process.pid, str(self.metrics_dir))  # type: ignore[no-untyped-call]

    async def _stop_all(self) -> None:
        """Wait for the workers' own graceful stop; kill what still runs after a grace."""
        self._forward(signal.SIGTERM)  # those not told yet (started during the stop)
        deadline = asyncio.get_running_loop().time() + STOP_GRACE
        for index, process in self.processes.items():
            try:
                async with asyncio.timeout_at(deadline):
                    status = await process.wait()
            except TimeoutError:
                log.error("worker %d (pid %d) still running: killing it", index, process.pid)
                process.kill()
                status = await process.wait()
            # Those that died before the stop were dealt with then.
            if status != 0 and process.pid in self.signalled and not self.status:
                log.error("worker %d (pid %d) %s at the stop", index, process.pid, _how(status))
                self.status = 1
            self._dead(index, process)


def _how(status: int) -> str:
    if status < 0:
        return f"was killed by {signal.Signals(-status).name}"
    return f"exited with status {status}"
