"""Density grids in and out: round trips, accepted shapes and types, frame folders and every bad input."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import torch

from painterly.errors import ConfigError, InputImageError, OutputError
from painterly.volume.grid import (
    DEFAULT_MAX_VOXELS,
    GRID_SUFFIXES,
    InputVolumeError,
    check_density,
    list_frames,
    load_density,
    load_sequence,
    save_density,
)


def blob(shape: tuple[int, int, int] = (6, 7, 8), seed: int = 0) -> npt.NDArray[np.float32]:
    return np.random.default_rng(seed).uniform(0.0, 2.0, shape).astype(np.float32)


def npy(path: Path, array: npt.NDArray[np.generic]) -> Path:
    np.save(path, array)
    return path


def leftovers(folder: Path) -> list[str]:
    return sorted(entry.name for entry in folder.iterdir()) if folder.exists() else []


# --------------------------------------------------------------------------------------------- good grids


def test_constants() -> None:
    assert DEFAULT_MAX_VOXELS == 256**3
    assert GRID_SUFFIXES == (".npy", ".npz")
    assert issubclass(InputVolumeError, InputImageError)
    assert InputVolumeError.exit_code == InputImageError.exit_code


@pytest.mark.parametrize("suffix", [".npy", ".npz"])
def test_round_trip(tmp_path: Path, suffix: str) -> None:
    density = torch.from_numpy(blob())
    written = save_density(tmp_path / "deep" / "er" / f"grid{suffix}", density)
    assert written == tmp_path / "deep" / "er" / f"grid{suffix}"
    loaded = load_density(written)
    assert loaded.dtype == torch.float32
    assert loaded.shape == (6, 7, 8)
    assert torch.equal(loaded, density)
    assert leftovers(written.parent) == [written.name]


def test_npz_is_compressed_under_the_key_density(tmp_path: Path) -> None:
    grid = np.zeros((16, 16, 16), np.float32)
    grid[4:8, 4:8, 4:8] = 1
    save_density(tmp_path / "g.npz", torch.from_numpy(grid))
    with np.load(tmp_path / "g.npz") as archive:
        assert archive.files == ["density"]
        assert np.array_equal(archive["density"], grid)
    assert (tmp_path / "g.npz").stat().st_size < grid.nbytes / 4


def test_save_converts_to_float32(tmp_path: Path) -> None:
    density = torch.from_numpy(blob()).double()
    save_density(tmp_path / "d.npy", density)
    raw = np.load(tmp_path / "d.npy")
    assert raw.dtype == np.float32
    assert np.allclose(raw, density.numpy())


def test_save_replaces_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "d.npy"
    save_density(target, torch.ones(4, 4, 4))
    save_density(target, torch.full((5, 5, 5), 2.0))
    assert load_density(target).shape == (5, 5, 5)
    assert leftovers(tmp_path) == ["d.npy"]


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.int64, np.float16, np.float64, ">f4"])
def test_integer_and_float_types_become_float32(tmp_path: Path, dtype: str | type) -> None:
    values = np.arange(4 * 5 * 6).reshape(4, 5, 6) % 7
    loaded = load_density(npy(tmp_path / "g.npy", values.astype(dtype)))
    assert loaded.dtype == torch.float32
    assert torch.equal(loaded, torch.from_numpy(values.astype(np.float32)))


@pytest.mark.parametrize("shape", [(1, 6, 7, 8), (6, 7, 8, 1)])
def test_four_dimensional_shapes_with_a_single_channel_are_squeezed(tmp_path: Path, shape: tuple[int, ...]) -> None:
    values = blob().reshape(shape)
    loaded = load_density(npy(tmp_path / "g.npy", values))
    assert loaded.shape == (6, 7, 8)
    assert torch.equal(loaded, torch.from_numpy(values.reshape(6, 7, 8)))


def test_fortran_order_is_read_right(tmp_path: Path) -> None:
    values = np.asfortranarray(blob())
    assert torch.equal(load_density(npy(tmp_path / "g.npy", values)), torch.from_numpy(np.ascontiguousarray(values)))


def test_npz_prefers_density_else_takes_the_only_array(tmp_path: Path) -> None:
    grid = blob()
    np.savez(tmp_path / "named.npz", velocity=np.zeros((3, 3)), density=grid)
    assert torch.equal(load_density(tmp_path / "named.npz"), torch.from_numpy(grid))
    np.savez_compressed(tmp_path / "single.npz", smoke=grid)
    assert torch.equal(load_density(tmp_path / "single.npz"), torch.from_numpy(grid))
    np.savez(tmp_path / "unnamed.npz", grid)
    assert torch.equal(load_density(tmp_path / "unnamed.npz"), torch.from_numpy(grid))


def test_suffix_is_case_insensitive(tmp_path: Path) -> None:
    assert load_density(npy(tmp_path / "g.npy", blob()).rename(tmp_path / "G.NPY")).shape == (6, 7, 8)


def test_max_voxels_none_and_exact_fit(tmp_path: Path) -> None:
    path = npy(tmp_path / "g.npy", blob((8, 8, 8)))
    assert load_density(path, max_voxels=None).shape == (8, 8, 8)
    assert load_density(path, max_voxels=512).shape == (8, 8, 8)


@pytest.mark.parametrize("bad", [0, 63, -1, 1.5, True, "64"])
def test_max_voxels_must_be_a_whole_number_of_at_least_64(tmp_path: Path, bad: object) -> None:
    with pytest.raises(ConfigError, match="max_voxels must be a whole number of at least 64"):
        load_density(npy(tmp_path / "g.npy", blob()), max_voxels=bad)  # type: ignore[arg-type]


def test_role_starts_the_message(tmp_path: Path) -> None:
    with pytest.raises(InputVolumeError, match=r"^style density '.*nothing\.npy' does not exist$"):
        load_density(tmp_path / "nothing.npy", role="style density")


# --------------------------------------------------------------------------------------------- bad files


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputVolumeError, match=r"density '.*missing\.npy' does not exist"):
        load_density(tmp_path / "missing.npy")


def test_folder_instead_of_a_file(tmp_path: Path) -> None:
    (tmp_path / "grid.npy").mkdir()
    with pytest.raises(InputVolumeError, match=r"density '.*grid\.npy' is a folder, not a grid file"):
        load_density(tmp_path / "grid.npy")


@pytest.mark.parametrize("name", ["grid.raw", "grid.vdb", "grid"])
def test_wrong_suffix(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    with open(path, "wb") as fh:
        np.save(fh, blob())
    with pytest.raises(InputVolumeError, match=rf"density '.*{re.escape(name)}' needs \.npy or \.npz"):
        load_density(path)


def test_text_file_named_npy(tmp_path: Path) -> None:
    (tmp_path / "notes.npy").write_text("not a grid at all\n")
    with pytest.raises(InputVolumeError, match=r"'.*notes\.npy' is not a NumPy grid or is truncated \(no \.npy"):
        load_density(tmp_path / "notes.npy")


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.npz").write_bytes(b"")
    with pytest.raises(InputVolumeError, match=r"is not a NumPy grid or is truncated \(the file is empty\)"):
        load_density(tmp_path / "empty.npz")


def test_truncated_npy_data(tmp_path: Path) -> None:
    path = npy(tmp_path / "cut.npy", blob())
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(InputVolumeError, match=r"'.*cut\.npy' is not a NumPy grid or is truncated \(the file has"):
        load_density(path)


def test_truncated_npy_header(tmp_path: Path) -> None:
    path = npy(tmp_path / "cut.npy", blob())
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(InputVolumeError, match=r"'.*cut\.npy' is not a NumPy grid or is truncated \(.+\)$"):
        load_density(path)


def test_truncated_npz(tmp_path: Path) -> None:
    path = tmp_path / "cut.npz"
    np.savez_compressed(path, density=blob())
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(InputVolumeError, match=r"'.*cut\.npz' is not a NumPy grid or is truncated \(.+\)$"):
        load_density(path)


def test_corrupt_npz_member(tmp_path: Path) -> None:
    path = tmp_path / "bad.npz"
    np.savez_compressed(path, density=blob((16, 16, 16)))
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)  # zeroes inside the compressed stream: zlib or the CRC fails
    path.write_bytes(bytes(data))
    with pytest.raises(InputVolumeError, match=r"'.*bad\.npz' is not a NumPy grid or is truncated \(.+\)$"):
        load_density(path)


def test_npz_with_several_arrays_and_none_named_density(tmp_path: Path) -> None:
    np.savez(tmp_path / "two.npz", blob(), blob(seed=1))
    with pytest.raises(
        InputVolumeError, match=r"holds several arrays \('arr_0', 'arr_1'\) and none is named 'density'"
    ):
        load_density(tmp_path / "two.npz")


def test_npz_without_arrays(tmp_path: Path) -> None:
    np.savez(tmp_path / "none.npz")
    with pytest.raises(InputVolumeError, match=r"'.*none\.npz' holds no arrays"):
        load_density(tmp_path / "none.npz")


def test_object_array_is_never_unpickled(tmp_path: Path) -> None:
    values = np.empty((4, 4, 4), dtype=object)
    values[...] = 1.0
    np.save(tmp_path / "objects.npy", values, allow_pickle=True)
    with pytest.raises(InputVolumeError, match=r"holds Python objects \(a pickled object array\), not densities"):
        load_density(tmp_path / "objects.npy")
    np.savez(tmp_path / "objects.npz", density=values)
    with pytest.raises(InputVolumeError, match=r"'.*objects\.npz' \(array 'density'\) holds Python objects"):
        load_density(tmp_path / "objects.npz")


@pytest.mark.parametrize(
    ("dtype", "label"), [(np.complex64, "complex64"), (np.bool_, "bool"), ("<U3", "<U3"), ("V8", "|V8")]
)
def test_types_that_are_not_densities(tmp_path: Path, dtype: str | type, label: str) -> None:
    values = np.ones((4, 4, 4)).astype(dtype) if dtype != "V8" else np.zeros((4, 4, 4), dtype="V8")
    with pytest.raises(InputVolumeError, match=rf"has dtype {re.escape(label)}; densities must be integers or floats"):
        load_density(npy(tmp_path / "g.npy", values))


def test_structured_dtype(tmp_path: Path) -> None:
    values = np.zeros((4, 4, 4), dtype=[("a", np.float32), ("b", np.float32)])
    with pytest.raises(InputVolumeError, match=r"densities must be integers or floats"):
        load_density(npy(tmp_path / "g.npy", values))


@pytest.mark.parametrize(("value", "word"), [(np.nan, "NaN"), (np.inf, "infinite"), (-np.inf, "infinite")])
def test_values_that_are_not_finite(tmp_path: Path, value: float, word: str) -> None:
    values = blob()
    values[1, 2, 3] = value
    with pytest.raises(InputVolumeError, match=rf"^density '.*g\.npy' has {word} values$"):
        load_density(npy(tmp_path / "g.npy", values))


def test_float64_too_large_for_float32(tmp_path: Path) -> None:
    values = np.ones((4, 4, 4))
    values[0, 0, 0] = 1e300
    with pytest.raises(InputVolumeError, match=r"has densities too large for float32 \(max 1e\+300\)"):
        load_density(npy(tmp_path / "g.npy", values))


def test_negative_densities(tmp_path: Path) -> None:
    values = blob()
    values[0, 0, 0] = -0.3
    with pytest.raises(InputVolumeError, match=r"^density '.*g\.npy' has negative densities \(min -0\.3\)$"):
        load_density(npy(tmp_path / "g.npy", values))


def test_all_zeros(tmp_path: Path) -> None:
    with pytest.raises(InputVolumeError, match=r"^density '.*g\.npy' is empty: every density is 0$"):
        load_density(npy(tmp_path / "g.npy", np.zeros((8, 8, 8), np.float32)))


@pytest.mark.parametrize(
    ("shape", "text"),
    [((16, 16), "2-D array of shape 16x16"), ((2, 8, 8, 8), "4-D array of shape 2x8x8x8"), ((), "0-D array")],
)
def test_shapes_that_are_not_grids(tmp_path: Path, shape: tuple[int, ...], text: str) -> None:
    with pytest.raises(InputVolumeError, match=rf"is a {text}.*; a density grid is 3-D \(z, y, x\)"):
        load_density(npy(tmp_path / "g.npy", np.ones(shape, np.float32)))


@pytest.mark.parametrize("shape", [(3, 8, 8), (8, 8, 2), (0, 8, 8), (1, 8, 3, 8)])
def test_too_small(tmp_path: Path, shape: tuple[int, ...]) -> None:
    expected = "x".join(str(side) for side in shape[-3:])
    with pytest.raises(InputVolumeError, match=rf"is {expected}, too small: every side needs at least 4 voxels"):
        load_density(npy(tmp_path / "g.npy", np.ones(shape, np.float32)))


def test_over_the_voxel_cap(tmp_path: Path) -> None:
    path = npy(tmp_path / "big.npy", blob((12, 10, 11)))
    message = (
        r"^density '.*big\.npy' is 12x10x11 \(1,320 voxels\), over the 1,000 voxel cap "
        r"\(e\.g\. 10x10x10 fits\): pass --max-voxels or downsample$"
    )
    with pytest.raises(InputVolumeError, match=message):
        load_density(path, max_voxels=1000)
    np.savez_compressed(tmp_path / "big.npz", density=blob((12, 10, 11)))
    with pytest.raises(InputVolumeError, match=r"over the 999 voxel cap \(e\.g\. 9x9x9 fits\)"):
        load_density(tmp_path / "big.npz", max_voxels=999)


def test_voxel_cap_message_in_millions(tmp_path: Path) -> None:
    # a header announcing 512^3 float32 voxels in front of no data: the cap is checked before the data is read
    path = tmp_path / "huge.npy"
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": "<f4", "fortran_order": False, "shape": (512, 512, 512)})
    message = r"is 512x512x512 \(134\.2 M voxels\), over the 16\.8 M voxel cap \(e\.g\. 256x256x256 fits\)"
    with pytest.raises(InputVolumeError, match=message):
        load_density(path)
    with pytest.raises(InputVolumeError, match=r"is not a NumPy grid or is truncated \(the file has"):
        load_density(path, max_voxels=None)


# --------------------------------------------------------------------------------------------- check_density


def test_check_density_accepts_and_converts() -> None:
    values = torch.arange(4 * 5 * 6, dtype=torch.int64).reshape(1, 4, 5, 6) % 3
    checked = check_density(values, "density")
    assert checked.dtype == torch.float32
    assert checked.shape == (4, 5, 6)
    assert torch.equal(checked, values[0].float())
    assert check_density(torch.ones(5, 5, 5, 1, dtype=torch.float64), "d").shape == (5, 5, 5)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (torch.full((4, 4, 4), float("nan")), r"^my grid has NaN values$"),
        (torch.full((4, 4, 4), float("inf")), r"^my grid has infinite values$"),
        (torch.full((4, 4, 4), -0.5), r"^my grid has negative densities \(min -0\.5\)$"),
        (torch.zeros(4, 4, 4), r"^my grid is empty: every density is 0$"),
        (torch.ones(4, 4), r"^my grid is a 2-D array of shape 4x4; a density grid is 3-D"),
        (torch.ones(4, 3, 4), r"^my grid is 4x3x4, too small"),
        (torch.ones(4, 4, 4, dtype=torch.bool), r"^my grid has dtype bool; densities must be integers or floats$"),
        (torch.ones(4, 4, 4, dtype=torch.complex64), r"has dtype complex64"),
        (torch.full((4, 4, 4), 1e300, dtype=torch.float64), r"too large for float32"),
        (np.ones((4, 4, 4)), r"^my grid must be a torch tensor, got ndarray$"),
    ],
)
def test_check_density_rejects(value: object, message: str) -> None:
    with pytest.raises(InputVolumeError, match=message):
        check_density(value, "my grid")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------- sequences


def test_list_frames_natural_order(tmp_path: Path) -> None:
    for name in ["frame10.npy", "frame2.npz", "frame1.npy", "Frame3.NPY", "notes.txt", ".hidden.npy"]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "frame4.npy").mkdir()
    names = [path.name for path in list_frames(tmp_path)]
    assert names == ["frame1.npy", "frame2.npz", "Frame3.NPY", "frame10.npy"]
    assert all(path.parent == tmp_path for path in list_frames(tmp_path))


def test_list_frames_errors(tmp_path: Path) -> None:
    with pytest.raises(InputVolumeError, match=r"^density sequence '.*nowhere' does not exist$"):
        list_frames(tmp_path / "nowhere")
    npy(tmp_path / "a.npy", blob())
    with pytest.raises(InputVolumeError, match=r"^frames '.*a\.npy' is not a folder$"):
        list_frames(tmp_path / "a.npy", role="frames")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "x.png").write_bytes(b"x")
    with pytest.raises(InputVolumeError, match=r"'.*empty' holds no density grids \(\.npy or \.npz files\)"):
        list_frames(tmp_path / "empty")


def test_load_sequence(tmp_path: Path) -> None:
    grids = [blob(seed=seed) for seed in range(3)]
    for index, grid in enumerate(grids):
        save_density(tmp_path / f"f{index * 5}.{'npz' if index % 2 else 'npy'}", torch.from_numpy(grid))
    frames = load_sequence(tmp_path)
    assert len(frames) == 3
    for frame, grid in zip(frames, grids, strict=True):
        assert torch.equal(frame, torch.from_numpy(grid))


def test_load_sequence_shape_mismatch(tmp_path: Path) -> None:
    npy(tmp_path / "a.npy", blob((8, 8, 8)))
    npy(tmp_path / "b.npy", blob((4, 4, 4)))
    with pytest.raises(InputVolumeError, match=r"^frame '.*b\.npy' is 4x4x4, the first frame is 8x8x8$"):
        load_sequence(tmp_path)


def test_load_sequence_bad_frame_and_cap(tmp_path: Path) -> None:
    npy(tmp_path / "a.npy", blob((8, 8, 8)))
    npy(tmp_path / "b.npy", np.zeros((8, 8, 8)))
    with pytest.raises(InputVolumeError, match=r"^frame '.*a\.npy' is 8x8x8 \(512 voxels\), over the 100 voxel"):
        load_sequence(tmp_path, max_voxels=100)
    with pytest.raises(InputVolumeError, match=r"^frame '.*b\.npy' is empty"):
        load_sequence(tmp_path)


# --------------------------------------------------------------------------------------------- save failures


@pytest.mark.parametrize("name", ["out.raw", "out", "out.npy.txt"])
def test_save_wrong_suffix(tmp_path: Path, name: str) -> None:
    with pytest.raises(OutputError, match=r"^cannot write .*: needs \.npy or \.npz$"):
        save_density(tmp_path / name, torch.ones(4, 4, 4))
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_save_not_finite(tmp_path: Path, value: float) -> None:
    density = torch.ones(4, 4, 4)
    density[1, 1, 1] = value
    with pytest.raises(OutputError, match=r"cannot write .*out\.npz: the density has NaN or infinite values"):
        save_density(tmp_path / "sub" / "out.npz", density)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "density", [torch.ones(4, 4), torch.ones(1, 4, 4, 4), torch.ones(4, 4, 4, dtype=torch.bool), "grid"]
)
def test_save_not_a_grid(tmp_path: Path, density: object) -> None:
    with pytest.raises(OutputError, match=r"cannot write .*out\.npy: the density must be"):
        save_density(tmp_path / "out.npy", density)  # type: ignore[arg-type]
    assert leftovers(tmp_path) == []


def test_save_parent_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match=r"cannot write .*out\.npy: cannot create folder .*file \(.+\)$"):
        save_density(tmp_path / "file" / "out.npy", torch.ones(4, 4, 4))
    assert leftovers(tmp_path) == ["file"]


def test_save_onto_a_folder(tmp_path: Path) -> None:
    (tmp_path / "out.npy").mkdir()
    with pytest.raises(OutputError, match=r"cannot write .*out\.npy: it is a folder"):
        save_density(tmp_path / "out.npy", torch.ones(4, 4, 4))
    assert leftovers(tmp_path) == ["out.npy"]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs POSIX permissions and a non-root user")
def test_save_into_a_read_only_folder(tmp_path: Path) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(OutputError, match=r"cannot write .*out\.npy: .+"):
            save_density(folder / "out.npy", torch.ones(4, 4, 4))
        assert leftovers(folder) == []
    finally:
        folder.chmod(0o700)


def test_save_failure_while_writing_removes_the_temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_replace(source: object, target: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OutputError, match=r"^cannot write .*out\.npy: No space left on device$"):
        save_density(tmp_path / "out.npy", torch.ones(4, 4, 4))
    assert leftovers(tmp_path) == []
