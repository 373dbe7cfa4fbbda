"""Running the app under uvicorn: SIGTERM or Ctrl-C drains the requests in flight, then exits 0."""

from __future__ import annotations

import signal

import uvicorn


class DrainingServer(uvicorn.Server):
    """uvicorn's server, except that a handled SIGTERM/SIGINT is not re-raised after the drain
    (uvicorn re-raises it, so the process would die of the signal instead of exiting 0)."""

    def handle_exit(self, sig, frame) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True  # a second Ctrl-C: stop waiting for the requests in flight
        else:
            self.should_exit = True


def run(app, host: str, port: int, log_level: str, drain_timeout: float) -> None:
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=drain_timeout,
                            lifespan="on")
    DrainingServer(config).run()
