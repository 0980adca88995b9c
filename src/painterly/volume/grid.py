"""Density grids in and out: :func:`load_density` reads a .npy/.npz grid, :func:`save_density` writes one.

A grid is a (D, H, W) = (z, y, x) float32 tensor of non-negative densities, y pointing up. Files hold NumPy
arrays of integers or floats; a (1, D, H, W) or (D, H, W, 1) array is squeezed to 3-D. Pickles are never read.

>>> smoke = load_density("smoke.npy")                 # doctest: +SKIP
>>> save_density("out/smoke_styled.npz", smoke)       # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
import re
import zipfile
import zlib
from pathlib import Path
from typing import IO, BinaryIO

import numpy as np
import numpy.typing as npt
import torch

from painterly.atomic import write_atomically
from painterly.errors import ConfigError, InputImageError, OutputError

DEFAULT_MAX_VOXELS = 256**3
GRID_SUFFIXES = (".npy", ".npz")
MIN_SIDE = 4  # the smallest grid side in voxels

_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
_READ_ERRORS = (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error)


class InputVolumeError(InputImageError):
    """A density grid is missing, not a grid, the wrong shape or type, not finite, negative, empty or too large
    (same exit code as a bad input image)."""


# --------------------------------------------------------------------------------------------- helpers


def _reason(error: BaseException) -> str:
    """The reason an exception gives, on one line."""
    text = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
    text = " ".join(text.split())
    return text or type(error).__name__


def _natural_key(name: str) -> list[tuple[int, int | str]]:
    """Sort key comparing runs of digits as numbers: frame2 before frame10."""
    return [(0, int(part)) if part.isdigit() else (1, part.lower()) for part in re.split(r"(\d+)", name) if part]


def _fmt_shape(shape: tuple[int, ...]) -> str:
    return "x".join(str(side) for side in shape)


def _fmt_voxels(count: int) -> str:
    """134217728 → "134.2 M", 32768 → "32,768"."""
    return f"{count / 1e6:.1f} M" if count >= 100_000 else f"{count:,}"


def _check_max_voxels(max_voxels: object) -> int | None:
    if max_voxels is None:
        return None
    if isinstance(max_voxels, bool) or not isinstance(max_voxels, int) or max_voxels < MIN_SIDE**3:
        raise ConfigError(f"max_voxels must be a whole number of at least {MIN_SIDE**3} or None, got {max_voxels!r}")
    return max_voxels


def _grid_shape(shape: tuple[int, ...], name: str) -> tuple[int, int, int]:
    """The (D, H, W) shape of an array: 3-D as is, (1, D, H, W) or (D, H, W, 1) squeezed; sides checked."""
    if len(shape) == 4 and shape[0] == 1:
        shape = shape[1:]
    elif len(shape) == 4 and shape[-1] == 1:
        shape = shape[:-1]
    if len(shape) != 3:
        of_shape = f" of shape {_fmt_shape(shape)}" if shape else ""
        raise InputVolumeError(f"{name} is a {len(shape)}-D array{of_shape}; a density grid is 3-D (z, y, x)")
    if min(shape) < MIN_SIDE:
        raise InputVolumeError(f"{name} is {_fmt_shape(shape)}, too small: every side needs at least {MIN_SIDE} voxels")
    return (shape[0], shape[1], shape[2])


def _check_cap(shape: tuple[int, int, int], name: str, max_voxels: int | None) -> None:
    count = math.prod(shape)
    if max_voxels is None or count <= max_voxels:
        return
    side = round(max_voxels ** (1 / 3))
    while side**3 > max_voxels:
        side -= 1
    raise InputVolumeError(
        f"{name} is {_fmt_shape(shape)} ({_fmt_voxels(count)} voxels), over the {_fmt_voxels(max_voxels)} voxel "
        f"cap (e.g. {side}x{side}x{side} fits): pass --max-voxels or downsample"
    )


def _check_dtype(dtype: np.dtype[np.generic] | torch.dtype, name: str) -> None:
    if isinstance(dtype, torch.dtype):
        ok = dtype != torch.bool and not dtype.is_complex
        label = str(dtype).removeprefix("torch.")
    else:
        if dtype.hasobject:
            raise InputVolumeError(
                f"{name} holds Python objects (a pickled object array), not densities; pickles are never loaded"
            )
        ok = dtype.kind in "iuf" and dtype.fields is None
        label = str(dtype)
    if not ok:
        raise InputVolumeError(f"{name} has dtype {label}; densities must be integers or floats")


def _not_finite(name: str, has_nan: bool) -> InputVolumeError:
    return InputVolumeError(f"{name} has {'NaN' if has_nan else 'infinite'} values")


def _too_large(name: str, peak: float) -> InputVolumeError:
    return InputVolumeError(f"{name} has densities too large for float32 (max {peak:.3g})")


def _check_range(density: torch.Tensor, name: str) -> torch.Tensor:
    """Reject negative and all-zero grids; ``density`` is a finite float32 tensor."""
    low = float(density.min())
    if low < 0:
        raise InputVolumeError(f"{name} has negative densities (min {low:.3g})")
    if float(density.max()) == 0:
        raise InputVolumeError(f"{name} is empty: every density is 0")
    return density


def _array_to_tensor(array: npt.NDArray[np.generic], shape: tuple[int, int, int], name: str) -> torch.Tensor:
    """A checked float32 (D, H, W) tensor from the numbers of a file."""
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise _not_finite(name, bool(np.isnan(array).any()))
    if array.dtype.kind == "f" and array.dtype.itemsize > 4 and array.size:
        peak = float(np.abs(array).max())
        if peak > float(np.finfo(np.float32).max):
            raise _too_large(name, peak)
    values = np.ascontiguousarray(array.reshape(shape), dtype=np.float32)
    return _check_range(torch.from_numpy(values), name)


# --------------------------------------------------------------------------------------------- reading


def _read_header(fh: IO[bytes], name: str) -> tuple[tuple[int, ...], np.dtype[np.generic], int]:
    """Shape, dtype and header length of the .npy stream ``fh``, reading only its header."""
    version = np.lib.format.read_magic(fh)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
    else:  # 3.0 only differs for structured dtypes with non-Latin-1 field names: never a grid
        raise InputVolumeError(f"{name} is a .npy of format {version[0]}.{version[1]}, not a grid of numbers")
    return tuple(int(side) for side in shape), dtype, fh.tell()


def _read_npy_stream(
    fh: IO[bytes], size: int, name: str, max_voxels: int | None
) -> tuple[npt.NDArray[np.generic], tuple[int, int, int]]:
    """Check the header of a .npy stream of ``size`` bytes, then read its data."""
    shape, dtype, offset = _read_header(fh, name)
    _check_dtype(dtype, name)
    grid = _grid_shape(shape, name)
    _check_cap(grid, name, max_voxels)
    expected = offset + math.prod(shape) * dtype.itemsize
    if size < expected:
        raise InputVolumeError(
            f"{name} is not a NumPy grid or is truncated (the file has {size:,} bytes, its header announces "
            f"{expected:,})"
        )
    fh.seek(0)
    array: npt.NDArray[np.generic] = np.lib.format.read_array(fh, allow_pickle=False)
    return array, grid


def _read_npz(fh: IO[bytes], name: str, max_voxels: int | None) -> tuple[npt.NDArray[np.generic], tuple[int, int, int]]:
    """Pick the array of an .npz stream (``density``, else the only one), check its header, then read it."""
    with zipfile.ZipFile(fh) as archive:
        members = {info.filename.removesuffix(".npy"): info for info in archive.infolist() if not info.is_dir()}
        if "density" in members:
            key = "density"
        elif len(members) == 1:
            key = next(iter(members))
        elif not members:
            raise InputVolumeError(f"{name} holds no arrays")
        else:
            listed = ", ".join(repr(key) for key in sorted(members, key=_natural_key))
            raise InputVolumeError(f"{name} holds several arrays ({listed}) and none is named 'density'")
        info = members[key]
        with archive.open(info) as member:
            return _read_npy_stream(member, info.file_size, f"{name} (array {key!r})", max_voxels)


def load_density(
    path: str | os.PathLike[str], *, max_voxels: int | None = DEFAULT_MAX_VOXELS, role: str = "density"
) -> torch.Tensor:
    """Read a density grid from a .npy or .npz file as a float32 (D, H, W) tensor.

    An .npz gives its array named ``density``, else its only array. The shape, type and size are checked from
    the header before the data is read; ``max_voxels`` (None: no cap) bounds D*H*W. Raises
    :class:`InputVolumeError` for a missing, unreadable or truncated file, a shape other than 3-D, a side under
    4 voxels, a grid over the cap, and NaN, infinite, negative or all-zero densities.
    """
    cap = _check_max_voxels(max_voxels)
    file = Path(path)
    name = f"{role} '{file}'"
    try:
        fh = open(file, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError as error:
        raise InputVolumeError(f"{name} does not exist") from error
    except IsADirectoryError as error:
        raise InputVolumeError(f"{name} is a folder, not a grid file") from error
    except OSError as error:
        raise InputVolumeError(f"{name} cannot be read: {_reason(error)}") from error
    with fh:
        if file.suffix.lower() not in GRID_SUFFIXES:
            raise InputVolumeError(f"{name} needs .npy or .npz")
        try:
            size = os.fstat(fh.fileno()).st_size
            magic = fh.read(len(_NPY_MAGIC))
            fh.seek(0)
            if magic.startswith(_NPY_MAGIC):
                array, grid = _read_npy_stream(fh, size, name, cap)
            elif magic[:4] in _ZIP_MAGICS:
                array, grid = _read_npz(fh, name, cap)
            elif size == 0:
                raise InputVolumeError(f"{name} is not a NumPy grid or is truncated (the file is empty)")
            else:
                raise InputVolumeError(f"{name} is not a NumPy grid or is truncated (no .npy or .npz header)")
        except _READ_ERRORS as error:
            raise InputVolumeError(f"{name} is not a NumPy grid or is truncated ({_reason(error)})") from error
    return _array_to_tensor(array, grid, name)


def check_density(density: torch.Tensor, name: str) -> torch.Tensor:
    """The checks of :func:`load_density` for a grid made in Python (no voxel cap).

    Returns ``density`` as a float32 (D, H, W) tensor on its device, squeezed from (1, D, H, W) or (D, H, W, 1);
    ``name`` starts the messages (e.g. ``"density"``). Raises :class:`InputVolumeError`.
    """
    if not isinstance(density, torch.Tensor):
        raise InputVolumeError(f"{name} must be a torch tensor, got {type(density).__name__}")
    _check_dtype(density.dtype, name)
    grid = _grid_shape(tuple(density.shape), name)
    density = density.detach().reshape(grid)
    if density.is_floating_point() and not bool(torch.isfinite(density).all()):
        raise _not_finite(name, bool(torch.isnan(density).any()))
    values = density.to(torch.float32)
    if not bool(torch.isfinite(values).all()):
        raise _too_large(name, float(density.abs().max()))
    return _check_range(values, name)


def list_frames(folder: str | os.PathLike[str], *, role: str = "density sequence") -> list[Path]:
    """The .npy/.npz files of ``folder`` (hidden ones left out), in natural order: frame2 before frame10."""
    path = Path(folder)
    name = f"{role} '{path}'"
    if not path.exists():
        raise InputVolumeError(f"{name} does not exist")
    if not path.is_dir():
        raise InputVolumeError(f"{name} is not a folder")
    try:
        names = sorted((entry.name for entry in os.scandir(path) if not entry.name.startswith(".")), key=_natural_key)
    except OSError as error:
        raise InputVolumeError(f"{name} cannot be listed: {_reason(error)}") from error
    files = [path / item for item in names if Path(item).suffix.lower() in GRID_SUFFIXES]
    files = [file for file in files if file.is_file()]
    if not files:
        raise InputVolumeError(f"{name} holds no density grids (.npy or .npz files)")
    return files


def load_sequence(folder: str | os.PathLike[str], *, max_voxels: int | None = DEFAULT_MAX_VOXELS) -> list[torch.Tensor]:
    """Every frame of a folder (see :func:`list_frames`), each read by :func:`load_density`; all the same shape."""
    frames: list[torch.Tensor] = []
    for file in list_frames(folder):
        frame = load_density(file, max_voxels=max_voxels, role="frame")
        if frames and frame.shape != frames[0].shape:
            raise InputVolumeError(
                f"frame '{file}' is {_fmt_shape(tuple(frame.shape))}, the first frame is "
                f"{_fmt_shape(tuple(frames[0].shape))}"
            )
        frames.append(frame)
    return frames


# --------------------------------------------------------------------------------------------- writing


def save_density(path: str | os.PathLike[str], density: torch.Tensor) -> Path:
    """Write a (D, H, W) grid as float32 to .npy, or to .npz under the key ``density`` (compressed); return the path.

    Missing parent folders are created. The file is written under a temporary name in the same folder and then
    renamed, so a killed process never leaves a half-written grid. Raises :class:`OutputError` for another
    suffix, a grid that is not 3-D or not finite, or a file that cannot be written.
    """
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix not in GRID_SUFFIXES:
        raise OutputError(f"cannot write {file}: needs .npy or .npz")
    if not isinstance(density, torch.Tensor) or density.dtype == torch.bool or density.is_complex():
        raise OutputError(f"cannot write {file}: the density must be a real-valued torch tensor")
    if density.ndim != 3:
        raise OutputError(
            f"cannot write {file}: the density must be a 3-D (z, y, x) grid, got shape "
            f"{_fmt_shape(tuple(density.shape))}"
        )
    array = density.detach().to("cpu", torch.float32).contiguous().numpy()
    if not np.isfinite(array).all():
        raise OutputError(f"cannot write {file}: the density has NaN or infinite values")
    if file.is_dir():
        raise OutputError(f"cannot write {file}: it is a folder; give a file name inside it")

    def write(handle: BinaryIO) -> None:
        if suffix == ".npy":
            np.save(handle, array, allow_pickle=False)
        else:
            np.savez_compressed(handle, density=array)

    return write_atomically(file, write, reason=_reason)
