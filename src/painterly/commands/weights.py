"""``painterly weights list | fetch | verify | path``: the weight files painterly uses."""

from __future__ import annotations

import click

from .. import weights as registry


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def weights() -> None:
    """Inspect, obtain and check the weight files (cached under $PAINTERLY_HOME)."""


@weights.command("list")
def list_weights() -> None:
    """Every known weight file, whether it is cached, its licence and sources."""
    for entry in registry.REGISTRY.values():
        cached = "cached" if registry.cached_path(entry.name).is_file() else "not cached"
        click.echo(f"{entry.name:<12} {entry.architecture:<12} {cached:<11} {entry.description}")
        click.echo(f"{'':<12} licence: {entry.license}")
        for number, source in enumerate(entry.sources, start=1):
            click.echo(f"{'':<12} source {number}: {source}")
    for shipped in registry.SHIPPED.values():
        click.echo(f"{shipped.name:<12} {'shipped':<12} {'in package':<11} {shipped.description}")
        click.echo(f"{'':<12} licence: {shipped.license}")
        click.echo(f"{'':<12} file: {shipped.path()} (sha256 {shipped.sha256[:16]}..., card: {shipped.card})")


@weights.command("fetch")
@click.argument("names", nargs=-1, required=True)
@click.option("--force", is_flag=True, help="Obtain again even if cached.")
def fetch(names: tuple[str, ...], force: bool) -> None:
    """Obtain NAMES into the cache (e.g. vgg16)."""
    for name in names:
        path = registry.fetch(name, force=force, progress=lambda message: click.echo(f"  {message}", err=True))
        click.echo(f"{name}: {path}")


@weights.command("verify")
@click.argument("names", nargs=-1)
def verify(names: tuple[str, ...]) -> None:
    """Re-hash cached files and the shipped networks (all by default) against their checksums."""
    chosen = list(names) or [
        *(name for name in registry.REGISTRY if registry.cached_path(name).is_file()),
        *registry.SHIPPED,
    ]
    for name in chosen:
        sha = registry.verify_shipped(name) if name in registry.SHIPPED else registry.verify(name)
        click.echo(f"{name}: ok sha256 {sha}")


@weights.command("path")
@click.argument("name", required=False)
def path(name: str | None) -> None:
    """Where NAME is (or would be) cached; without NAME, the cache folder."""
    if name is None:
        click.echo(str(registry.home_dir() / "weights"))
    elif name in registry.SHIPPED:
        click.echo(str(registry.get_shipped(name).path()))
    else:
        registry.get_entry(name)
        click.echo(str(registry.cached_path(name)))
