"""The ``painterly`` command line: parse → config → library call → message. Only this module prints."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from . import __version__
from .errors import PainterlyError

INTERNAL_ERROR_EXIT = 70
INTERRUPTED_EXIT = 130
HELP_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code; errors become one line on stderr (a traceback only with --debug)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = [arg for arg in args if arg != "--debug"]  # accepted anywhere on the line
    try:
        result = cli.main(args=args, prog_name="painterly", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("painterly: interrupted", err=True)
        return INTERRUPTED_EXIT
    except click.UsageError as error:
        hint = f" (see `{error.ctx.command_path} --help`)" if error.ctx is not None else ""
        click.echo(f"painterly: error: {error.format_message()}{hint}", err=True)
        return error.exit_code
    except click.ClickException as error:
        click.echo(f"painterly: error: {error.format_message()}", err=True)
        return error.exit_code
    except click.exceptions.Exit as error:
        return error.exit_code
    except PainterlyError as error:
        if debug:
            raise
        click.echo(f"painterly: error: {error}", err=True)
        return error.exit_code
    except KeyboardInterrupt:
        click.echo("painterly: interrupted", err=True)
        return INTERRUPTED_EXIT
    except Exception as error:  # the last line of defence: one line, not a traceback
        if debug:
            raise
        click.echo(
            f"painterly: internal error: {type(error).__name__}: {error} (rerun with --debug for the traceback)",
            err=True,
        )
        return INTERNAL_ERROR_EXIT
    return result if isinstance(result, int) else 0


@click.group(context_settings=HELP_SETTINGS)
@click.version_option(__version__, prog_name="painterly")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors (accepted anywhere on the line).")
def cli(debug: bool) -> None:
    """painterly — neural style transfer: a photo and a painting in, the photo in the painting's style out."""


def _register_commands() -> None:
    from .commands.audio import audio
    from .commands.batch import batch
    from .commands.export import export
    from .commands.score import score
    from .commands.serve import serve
    from .commands.stylize import presets, sheet, stylize
    from .commands.train import train
    from .commands.transfer import demo, transfer
    from .commands.video import video
    from .commands.volume import volume
    from .commands.weights import weights

    cli.add_command(transfer)
    cli.add_command(batch)
    cli.add_command(demo)
    cli.add_command(weights)
    cli.add_command(train)
    cli.add_command(stylize)
    cli.add_command(presets)
    cli.add_command(sheet)
    cli.add_command(export)
    cli.add_command(video)
    cli.add_command(serve)
    cli.add_command(score)
    cli.add_command(audio)
    cli.add_command(volume)


_register_commands()

__all__ = ["cli", "main"]
