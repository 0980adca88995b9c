"""``painterly batch``: planning, the manifest, resume, failures, random styles, the Ray path (tiny networks)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from painterly.batch.plan import list_inputs, pending, plan_items, read_manifest
from painterly.batch.run import ray_available, run_batch
from painterly.batch.worker import BatchSettings, BatchWorker
from painterly.cli import main
from painterly.errors import ConfigError, InputImageError, OutputError
from tests.conftest import PRESET_NAMES, gradient_image


def picture(path: Path, seed: int, size: tuple[int, int] = (40, 48)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    array = (gradient_image(*size, seed=seed)[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    Image.fromarray(array).save(path)
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    picture(root / "a.png", 1)
    picture(root / "b.jpg", 2)
    picture(root / "sub" / "c.png", 3)
    picture(root / "sub" / "deeper" / "d.webp", 4)
    (root / "sub" / "broken.png").write_bytes(b"not a picture")
    (root / "notes.txt").write_text("not an image: ignored")
    return root


@pytest.fixture
def style(tmp_path: Path) -> Path:
    return picture(tmp_path / "styles" / "painting.png", 9, (48, 48))


def test_inputs_mirror_the_tree_and_lists_work(tree: Path, tmp_path: Path) -> None:
    found = [relative for _, relative in list_inputs(tree)]
    assert found == ["a.png", "b.jpg", "sub/broken.png", "sub/c.png", "sub/deeper/d.webp"]
    items = plan_items(tree, tmp_path / "out", suffix=".png")
    assert [item.output.relative_to(tmp_path / "out").as_posix() for item in items] == [
        "a.png",
        "b.png",
        "sub/broken.png",
        "sub/c.png",
        "sub/deeper/d.png",
    ]
    listing = tmp_path / "list.txt"
    listing.write_text(f"# two of them\nphotos/a.png\n\n{tree / 'sub' / 'c.png'}\n")
    assert [relative for _, relative in list_inputs(listing)] == ["photos/a.png", str(tree / "sub" / "c.png")[1:]]
    # a linked folder is followed, a link back up the tree is not walked twice
    (tree / "linked").symlink_to(tree / "sub" / "deeper")
    (tree / "sub" / "loop").symlink_to(tree)
    found = [relative for _, relative in list_inputs(tree)]
    assert "linked/d.webp" in found and len(found) == len(set(found)) and not any("loop/loop" in f for f in found)


def test_bad_plans(tree: Path, tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="inside the input folder"):
        plan_items(tree, tree / "styled")
    with pytest.raises(InputImageError, match="no such folder or list file"):
        plan_items(tmp_path / "missing", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputImageError, match="no images found"):
        plan_items(tmp_path / "empty", tmp_path / "out")
    with pytest.raises(ConfigError, match="output format"):
        plan_items(tree, tmp_path / "out", suffix=".gif")
    with pytest.raises(ConfigError, match="one-pass methods"):
        BatchSettings(method="gatys", styles=("x",))
    with pytest.raises(ConfigError, match="at least one style"):
        BatchSettings(method="adain")
    picture(tree / "a.jpg", 5)
    with pytest.raises(ConfigError, match=r"a\.jpg and a\.png would both be written to"):
        plan_items(tree, tmp_path / "out", suffix=".png")
    escaping = tmp_path / "lists" / "list.txt"
    escaping.parent.mkdir()
    escaping.write_text("../photos/b.jpg\n")
    with pytest.raises(InputImageError, match="leads outside the list's folder"):
        plan_items(escaping, tmp_path / "out")
    own = tmp_path / "own.txt"
    own.write_text("photos/b.jpg\n")
    with pytest.raises(OutputError, match="it is one of the inputs"):
        plan_items(own, tmp_path)


def test_a_run_writes_everything_lists_failures_and_resumes(
    tree: Path, style: Path, tmp_path: Path, tiny_methods: None
) -> None:
    out = tmp_path / "out"
    settings = BatchSettings(method="adain", styles=(str(style),), options={"precision": "fp32"})
    items = plan_items(tree, out)
    summary = run_batch(items, settings, out, engine="local")
    assert (summary.total, summary.done, summary.skipped) == (5, 4, 0)
    assert [failure["input"] for failure in summary.failed] == ["sub/broken.png"]
    assert "not an image file" in summary.failed[0]["error"]
    for relative in ("a.png", "b.jpg", "sub/c.png", "sub/deeper/d.webp"):
        assert Image.open(out / relative).size == (48, 40)
    manifest = read_manifest(out)
    assert set(manifest) == {"a.png", "b.jpg", "sub/c.png", "sub/deeper/d.webp"}
    # a second run does nothing new; a tampered output, a deleted one, a torn manifest line are redone or ignored
    again = run_batch(items, settings, out, engine="local")
    assert (again.done, again.skipped) == (0, 4)
    (out / "a.png").write_bytes(b"tampered")
    (out / "sub" / "c.png").unlink()
    picture(tree / "sub" / "deeper" / "d.webp", 40)  # the input replaced
    copied = (out / "b.jpg").read_bytes()
    (out / "b.jpg").write_bytes(copied)  # the same bytes, a new time: re-hashed, not redone
    with (out / "manifest.jsonl").open("a") as handle:
        handle.write('{"input": "b.jp')  # a line a killed run left half-written
    todo, done = pending(items, out, settings.fingerprint())
    assert sorted(item.relative for item in todo) == ["a.png", "sub/broken.png", "sub/c.png", "sub/deeper/d.webp"]
    assert done == 1
    third = run_batch(items, settings, out, engine="local")
    assert (third.done, third.skipped, len(third.failed)) == (3, 1, 1)
    assert set(read_manifest(out)) == {"a.png", "b.jpg", "sub/c.png", "sub/deeper/d.webp"}  # the torn line ended
    assert len((out / "failures.jsonl").read_text().splitlines()) == 1  # this run's failures only
    # other settings: everything again
    stronger = BatchSettings(method="adain", styles=(str(style),), options={"precision": "fp32", "alpha": 0.5})
    assert len(pending(items, out, stronger.fingerprint())[0]) == 5


def test_an_interrupted_run_resumes_with_what_is_missing(
    tree: Path, style: Path, tmp_path: Path, tiny_methods: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    arguments = ["batch", str(tree), str(out), "--style", str(style), "--engine", "local", "-q"]
    process = BatchWorker.process
    calls: list[int] = []

    def ctrl_c_at_the_third(self: BatchWorker, *args: str) -> dict[str, object]:
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return process(self, *args)

    monkeypatch.setattr(BatchWorker, "process", ctrl_c_at_the_third)
    assert main(arguments) == 130
    assert len(read_manifest(out)) == 2  # a.png and b.jpg were finished and recorded
    monkeypatch.setattr(BatchWorker, "process", process)
    seen: list[str] = []
    original = BatchWorker.process

    def counting(self: BatchWorker, source: str, output: str, relative: str) -> dict[str, object]:
        seen.append(relative)
        return original(self, source, output, relative)

    monkeypatch.setattr(BatchWorker, "process", counting)
    assert main(arguments) == 8  # the broken file again
    assert seen == ["sub/broken.png", "sub/c.png", "sub/deeper/d.webp"]
    assert len(read_manifest(out)) == 4
    failures = [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines()]
    assert {failure["input"] for failure in failures} == {"sub/broken.png"}


def test_the_cli_reports_and_lists_failures(
    tree: Path, style: Path, tmp_path: Path, tiny_methods: None, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert (
        main(["batch", str(tree), str(out), "--style", str(style), "--engine", "local", "-q", "--format", "png"]) == 8
    )
    captured = capsys.readouterr()
    assert f"stylised 4 of 5 images into {out} (0 done earlier, 1 failed; in-process" in captured.out
    assert "failed: sub/broken.png: cannot read image" in captured.err
    assert (out / "b.png").is_file() and (out / "sub" / "deeper" / "d.png").is_file()
    assert (
        main(["batch", str(tree), str(out), "--style", str(style), "--engine", "local", "-q", "--format", "png"]) == 8
    )
    assert f"stylised 0 of 5 images into {out} (4 done earlier, 1 failed" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("arguments", "code", "message"),
    [
        (["--preset", "starry", "--style", "{style}"], 2, "not both"),
        ([], 2, "give style images"),
        (["--method", "preset"], 2, "--method preset needs --preset"),
        (["--style", "{tmp}/nothing.png"], 3, "no such style image"),
        (["--style", "{style}", "--style-blend", "a"], 2, "--style-blend must be numbers"),
        (["--style", "{style}", "--style-blend", "0.5,0.5"], 2, "one weight per style"),
        (["--preset", "nonexistent"], 2, "nonexistent"),
    ],
)
def test_bad_command_lines(
    tree: Path,
    style: Path,
    tmp_path: Path,
    tiny_methods: None,
    capsys: pytest.CaptureFixture[str],
    arguments: list[str],
    code: int,
    message: str,
) -> None:
    filled = [argument.format(style=style, tmp=tmp_path) for argument in arguments]
    assert main(["batch", str(tree), str(tmp_path / "out"), "--engine", "local", "-q", *filled]) == code
    error = capsys.readouterr().err
    assert len(error.strip().splitlines()) == 1 and message in error, error


def test_alpha_and_sixteen_bits_survive(tmp_path: Path, style: Path, tiny_methods: None) -> None:
    photos = tmp_path / "deep"
    photos.mkdir()
    rgba = np.zeros((24, 32, 4), dtype=np.uint8)
    rgba[..., :3], rgba[..., 3] = 120, 77
    Image.fromarray(rgba, mode="RGBA").save(photos / "clear.png")
    deep = (gradient_image(24, 32, seed=3)[0, 0].numpy() * 65535).astype(np.uint16)
    Image.fromarray(deep).save(photos / "deep.png")
    out = tmp_path / "out"
    settings = BatchSettings(method="adain", styles=(str(style),), options={"precision": "fp32", "size": 16})
    summary = run_batch(plan_items(photos, out), settings, out, engine="local")
    assert summary.done == 2, summary.failed
    clear = Image.open(out / "clear.png")
    assert clear.mode == "RGBA" and clear.size == (16, 12) and clear.getchannel("A").getextrema() == (77, 77)
    from painterly.image.io import read_image

    assert read_image(out / "deep.png").bit_depth == 16  # a 16-bit grey photo gives a 16-bit RGB PNG


def test_random_styles_are_fixed_by_seed_and_path(tree: Path, tmp_path: Path, tiny_methods: None) -> None:
    styles = tuple(str(picture(tmp_path / "paintings" / f"p{index}.png", 20 + index, (48, 48))) for index in range(3))
    settings = BatchSettings(method="adain", styles=styles, random_style=True, options={"precision": "fp32"})
    picks = [settings.style_for(f"image{index}.png") for index in range(60)]
    assert set(picks) == {0, 1, 2} and picks == [settings.style_for(f"image{index}.png") for index in range(60)]
    other = BatchSettings(method="adain", styles=styles, random_style=True, seed=1)
    assert picks != [other.style_for(f"image{index}.png") for index in range(60)]
    out = tmp_path / "out"
    run_batch(plan_items(tree, out), settings, out, engine="local")
    manifest = read_manifest(out)
    assert all(manifest[name]["style"] == Path(styles[settings.style_for(name) or 0]).stem for name in manifest)


@pytest.mark.skipif(not ray_available(), reason="Ray is not installed (pip install 'painterly[scale]')")
def test_a_cluster_that_cannot_be_reached_is_one_line(
    tree: Path, style: Path, tmp_path: Path, tiny_methods: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ray

    def refuse(**_: object) -> None:
        raise ConnectionError("Could not find any running Ray instance")

    monkeypatch.setattr(ray, "init", refuse)
    settings = BatchSettings(method="adain", styles=(str(style),))
    with pytest.raises(ConfigError, match="cannot start the Ray cluster at head:6379: Could not find any running Ray"):
        run_batch(plan_items(tree, tmp_path / "out"), settings, tmp_path / "out", engine="ray", address="head:6379")


@pytest.mark.skipif(not ray_available(), reason="Ray is not installed (pip install 'painterly[scale]')")
def test_the_ray_path_matches_the_in_process_one(tree: Path, tmp_path: Path, tiny_methods: None) -> None:
    """A local Ray with two actors (the tiny preset network travels by $PAINTERLY_PRESETS, set for this test)."""
    import ray

    settings = BatchSettings(method="preset", styles=(PRESET_NAMES[0],), options={"precision": "fp32"})
    local, distributed = tmp_path / "local", tmp_path / "ray"
    run_batch(plan_items(tree, local), settings, local, engine="local")
    try:
        summary = run_batch(plan_items(tree, distributed), settings, distributed, engine="ray", workers=2, batch_size=1)
    finally:
        ray.shutdown()
    assert summary.engine == "ray" and (summary.done, len(summary.failed)) == (4, 1)
    for name, entry in read_manifest(local).items():
        assert read_manifest(distributed)[name]["sha256"] == entry["sha256"]  # the same bytes
