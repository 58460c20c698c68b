"""The demo's ports and server subprocesses: choosing free ports, starting ``driftscope serve``
and ``driftscope dashboard`` each in its own process group with its output in a log file, and
stopping them so nothing is left running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

from driftscope.apps.demo.options import HOST, DemoError


def port_is_free(port: int, host: str = HOST) -> bool:
    """True when nothing listens on ``host:port`` (we can bind it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = HOST) -> int:
    """A port the operating system says is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def choose_port(requested: int | None, default: int, what: str) -> tuple[int, str | None]:
    """The port to use and, when it is not the one expected, a note saying why.

    An explicitly requested port that is taken is an error (exit 2); a taken default is
    replaced by a free port.
    """
    if requested is not None:
        if not port_is_free(requested):
            raise DemoError(
                f"port {requested} for the {what} is already in use; pick another with "
                f"--port, or leave it out to use a free one",
                code=2,
            )
        return requested, None
    if port_is_free(default):
        return default, None
    port = free_port()
    return port, f"port {default} is taken, so the {what} uses port {port}"


class ManagedProcess:
    """A server subprocess in its own process group, its output going to a log file.

    Its own group (session) means a terminal's Ctrl-C reaches only the demo, which then
    stops its children in order; and that stopping kills every process the child started.
    """

    def __init__(self, name: str, args: list[str], log_path: Path, env: dict[str, str]) -> None:
        self.name = name
        self.args = args
        self.log_path = log_path
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> None:
        """Start the process."""
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        kwargs: dict[str, Any] = {}
        if sys.platform == "win32":
            kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP
        else:
            kwargs["start_new_session"] = True
        self.process = subprocess.Popen(
            self.args,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self.env,
            **kwargs,
        )

    @property
    def alive(self) -> bool:
        """True while the process runs."""
        return self.process is not None and self.process.poll() is None

    @property
    def returncode(self) -> int | None:
        """The exit code once it ended."""
        return None if self.process is None else self.process.poll()

    def _signal_group(self, sig: int) -> None:
        assert self.process is not None
        if sys.platform == "win32":
            if sig == signal.SIGINT:
                self.process.send_signal(signal.CTRL_BREAK_EVENT)
            else:
                self.process.kill()
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)

    def stop(self, timeout: float = 20.0) -> None:
        """Ask the process to stop (SIGINT: a graceful shutdown that flushes), wait up to
        ``timeout`` seconds, then kill its whole process group."""
        if self.process is not None:
            if self.process.poll() is None:
                self._signal_group(signal.SIGINT)
                try:
                    self.process.wait(timeout)
                except subprocess.TimeoutExpired:
                    self._signal_group(
                        signal.SIGKILL if sys.platform != "win32" else signal.SIGTERM
                    )
                    self.process.wait(5)
            # whatever the leader started and left behind goes too
            if sys.platform != "win32":
                self._signal_group(signal.SIGKILL)
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 25) -> str:
        """The last lines of the process's log."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def child_environment(extra: dict[str, str]) -> dict[str, str]:
    """The caller's environment without ``DRIFTSCOPE_*`` variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTSCOPE_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env
