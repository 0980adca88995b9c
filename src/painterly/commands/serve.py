"""``painterly serve``: the local web studio."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import ConfigError
from ..web.lock import DataFolderLock
from ..web.settings import DEFAULT_PORT, LOOPBACK_HOST, StudioSettings
from .transfer import terminate_as_interrupt


def default_data_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("painterly")) / "studio"


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--host", default=LOOPBACK_HOST, show_default=True, help="Address to listen on (0.0.0.0: every network).")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int, help="Port to listen on.")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Where jobs and results are kept.")
@click.option("--allow-host", "allowed_hosts", multiple=True, help="Another host name the page is opened by.")
@click.option("--max-upload-mb", default=40.0, show_default=True, type=float, help="Largest request body.")
@click.option("--max-pixels", default=40_000_000, show_default=True, type=int, help="Largest decoded picture.")
@click.option("--max-video-frames", default=3000, show_default=True, type=int, help="Longest video accepted.")
@click.option("--queue-limit", default=32, show_default=True, type=int, help="Most jobs waiting at once (503 beyond).")
@click.option("--rate-limit", default=30, show_default=True, type=int, help="Jobs per client per minute (0: off).")
@click.option("--keep-jobs", default=200, show_default=True, type=int, help="Finished jobs kept (newest first).")
@click.option("--keep-days", default=7.0, show_default=True, type=float, help="Finished jobs are deleted after this.")
def serve(
    host: str,
    port: int,
    data_dir: Path | None,
    allowed_hosts: tuple[str, ...],
    max_upload_mb: float,
    max_pixels: int,
    max_video_frames: int,
    queue_limit: int,
    rate_limit: int,
    keep_jobs: int,
    keep_days: float,
) -> int:
    """Start the web studio: drop a photo into the page, pick a style, watch it being painted.

    \b
    Examples:
      painterly serve                      # http://127.0.0.1:8765, this computer only
      painterly serve --port 9000 --data-dir ~/studio
      painterly serve --host 0.0.0.0 --allow-host mybox.local   # reachable from the network
    """
    try:
        import uvicorn

        from ..web.app import create_app
    except ImportError as error:
        raise ConfigError(f"the studio needs the web extra: pip install 'painterly[web]' ({error})") from error
    if max_upload_mb <= 0:
        raise ConfigError(f"--max-upload-mb must be above 0, got {max_upload_mb}")
    settings = StudioSettings(
        data_dir=data_dir or default_data_dir(),
        host=host,
        port=port,
        max_upload_bytes=int(max_upload_mb * 1024 * 1024),
        max_pixels=max_pixels,
        max_video_frames=max_video_frames,
        queue_limit=queue_limit,
        rate_limit=rate_limit,
        keep_jobs=keep_jobs,
        keep_days=keep_days,
        allowed_hosts=allowed_hosts,
    )
    with DataFolderLock(settings.data_dir):  # one line now, rather than a failed start, when the folder is in use
        pass
    app = create_app(settings)
    shown = f"[{host}]" if ":" in host else host
    where = "this computer only" if settings.is_loopback else "reachable from other computers"
    click.echo(f"painterly studio on http://{shown}:{port} ({where}); jobs in {settings.data_dir}; Ctrl-C stops")
    if not settings.is_loopback:
        click.echo("note: the studio has no login: anyone who can reach this address can use, see and cancel its jobs")
    try:
        # SIGTERM stops the studio like Ctrl-C (uvicorn shuts down gracefully, then re-raises the signal it caught:
        # as KeyboardInterrupt, which uvicorn.run swallows, it exits 0 instead of dying by the signal)
        with terminate_as_interrupt():
            uvicorn.run(
                app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5, proxy_headers=False
            )
    except OSError as error:
        raise ConfigError(f"cannot listen on {host}:{port}: {error.strerror or error}") from error
    return 0
