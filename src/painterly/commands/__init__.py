"""Sub-commands of the ``painterly`` CLI, one module per command group."""

from collections.abc import Callable
from typing import Any, TypeVar

Command = TypeVar("Command", bound=Callable[..., Any])
"""A click command function, as passed through option decorators."""
