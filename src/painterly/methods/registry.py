"""The registry of style-transfer methods, in the spirit of torchvision's ``list_models`` / ``get_model``.

>>> list_methods()
['gatys', 'preset', 'adain', 'wct', 'photo']
>>> get_method("adain").style_kind
'images'

Adding a method is one module that defines ``METHOD`` (a :class:`~painterly.methods.base.Method`) plus one line
here. Modules are imported on first use, so listing the methods stays cheap.
"""

from __future__ import annotations

import importlib

from ..errors import ConfigError
from .base import Method

METHOD_MODULES: dict[str, str] = {
    "gatys": "painterly.methods.gatys",
    "preset": "painterly.methods.stylizer",
    "adain": "painterly.methods.arbitrary",
    "wct": "painterly.methods.wct",
    "photo": "painterly.methods.photo",
}


def list_methods() -> list[str]:
    """The method names, in the order they are documented."""
    return list(METHOD_MODULES)


def get_method(name: str) -> Method:
    """The method called ``name``; a ConfigError listing the known ones otherwise."""
    module_name = METHOD_MODULES.get(name)
    if module_name is None:
        raise ConfigError(f"unknown method '{name}': choose one of {', '.join(METHOD_MODULES)}")
    method = importlib.import_module(module_name).METHOD
    if not isinstance(method, Method) or method.name != name:
        raise ConfigError(f"{module_name}.METHOD is not the method '{name}'")
    return method
