"""The studio's settings: where it listens, where it keeps jobs, and the limits that protect it."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError

LOOPBACK_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]", "::1")


@dataclass(frozen=True)
class StudioSettings:
    """Everything ``painterly serve`` can set; the defaults suit one person on their own computer."""

    data_dir: Path
    """Jobs (SQLite) and their files: uploads, results, previews, run records."""
    host: str = LOOPBACK_HOST
    port: int = DEFAULT_PORT
    max_upload_bytes: int = 40 * 1024 * 1024
    """Largest request body; a larger one is refused with 413 before it is read."""
    max_pixels: int = 40_000_000
    """Largest decoded picture (width x height), checked from the header before decoding."""
    max_video_frames: int = 3000
    """Longest video (frames; 2 minutes at 25 fps)."""
    queue_limit: int = 32
    """Most jobs waiting at once; more are refused with 503 and Retry-After."""
    rate_limit: int = 30
    """Job submissions per client per minute (429 beyond it); 0 turns the limit off."""
    keep_jobs: int = 200
    """Finished jobs kept (newest first); older ones are deleted with their files."""
    keep_days: float = 7.0
    """Finished jobs older than this are deleted."""
    allowed_hosts: tuple[str, ...] = ()
    """Extra host names the page may be reached by (besides loopback and ``host``), e.g. a LAN name."""
    preview_seconds: float = 1.0
    """Shortest time between two intermediate pictures of an optimisation."""
    static_dir: Path = Path(__file__).parent / "static"
    """The page and its files (served at ``/static``; ``index.html`` at ``/``)."""

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ConfigError(f"port must be within 1..65535, got {self.port}")
        for name in ("max_upload_bytes", "max_pixels", "max_video_frames", "queue_limit", "keep_jobs"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.rate_limit < 0:
            raise ConfigError(f"rate-limit must be 0 (off) or more, got {self.rate_limit}")
        if not self.keep_days > 0:
            raise ConfigError(f"keep-days must be above 0, got {self.keep_days}")

    @property
    def is_loopback(self) -> bool:
        """True when only this computer can connect."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host.strip("[]")).is_loopback
        except ValueError:
            return False

    def host_names(self) -> frozenset[str]:
        """Host names (without port) the server answers to: loopback names, the bound host, the extra ones."""
        names = {*LOOPBACK_NAMES, self.host, *self.allowed_hosts}
        if ":" in self.host and not self.host.startswith("["):
            names.add(f"[{self.host}]")
        return frozenset(name.lower() for name in names)
