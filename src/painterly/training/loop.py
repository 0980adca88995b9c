"""The training machinery every trained network shares: Adam with warm-up and cosine decay, a wall-clock budget,
atomic checkpoints with exact resume, a JSON log with a loss plot, and periodic previews.

An objective owns the model, the data and the losses; this loop owns time, state and files::

    result = train(objective, TrainingOptions(steps=4000, budget_seconds=7200), Path("runs/presets"))
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

import torch
from torch import Tensor, nn

from ..atomic import write_atomically
from ..errors import ConfigError, OutputError, TrainingError
from ..history import plot_history
from ..image.io import save_image
from .data import step_generator

Model = TypeVar("Model", bound=nn.Module)
CHECKPOINT_NAME = "checkpoint.pt"
LOG_NAME = "log.json"
PLOT_NAME = "loss.png"
CHECKPOINT_FORMAT = 1
# Adam's second-moment memory: 0.999 remembers the huge gradients of the first steps for ~1000 steps and stalls
# learning (measured: |m|/sqrt(v) ~ 0.01 on the norm rows after 600 steps); 0.99 forgets them within ~100.
ADAM_BETA2 = 0.99


class Objective(Protocol):
    """What a method provides to be trained: a model, a loss on the step's batch, a preview picture."""

    @property
    def model(self) -> nn.Module: ...

    def losses(self, generator: torch.Generator, batch_size: int) -> dict[str, Tensor]:
        """Draw the step's batch from ``generator`` and return named loss terms; ``"total"`` is minimised."""
        ...

    def preview(self) -> Tensor:
        """A (1, 3, H, W) picture of what the model does now, on fixed inputs."""
        ...

    def identity(self) -> dict[str, Any]:
        """What must match for a checkpoint to be resumed (shapes, style names, loss settings)."""
        ...

    def parameter_groups(self) -> list[tuple[list[nn.Parameter], float]]:
        """Trainable parameters, each group with its learning-rate multiplier."""
        ...


@dataclass(frozen=True)
class TrainingOptions:
    steps: int = 4000
    batch_size: int = 4
    learning_rate: float = 1e-3
    final_learning_rate_ratio: float = 0.1
    warmup_steps: int = 50
    seed: int = 0
    budget_seconds: float | None = None
    decay_over_budget: bool = False
    checkpoint_every: int = 100
    preview_every: int = 250

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1:
            raise ConfigError("steps and batch size must be at least 1")
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise ConfigError(f"learning rate must be a positive number, got {self.learning_rate}")
        if not 0 <= self.final_learning_rate_ratio <= 1:
            raise ConfigError("final learning-rate ratio must be within [0, 1]")
        if self.warmup_steps < 0 or self.checkpoint_every < 1 or self.preview_every < 1:
            raise ConfigError("warm-up steps must be >= 0, checkpoint and preview intervals >= 1")
        if self.budget_seconds is not None and not self.budget_seconds > 0:
            raise ConfigError(f"the time budget must be positive, got {self.budget_seconds}")
        if self.decay_over_budget and self.budget_seconds is None:
            raise ConfigError("decaying the learning rate over the budget needs a time budget")

    def learning_rate_at(self, step: int, budget_spent: float = 0.0) -> float:
        """Linear warm-up, then cosine decay towards ``final_learning_rate_ratio`` of the rate, reached at ``steps``
        or, with ``decay_over_budget``, when ``budget_spent`` (the fraction of the time budget used) reaches 1,
        whichever comes first: a run on unfamiliar hardware finishes its schedule in the time it is given."""
        if step < self.warmup_steps:
            return self.learning_rate * (step + 1) / (self.warmup_steps + 1)
        span = max(self.steps - self.warmup_steps, 1)
        progress = min((step - self.warmup_steps) / span, 1.0)
        if self.decay_over_budget:
            progress = max(progress, min(max(budget_spent, 0.0), 1.0))
        floor = self.final_learning_rate_ratio
        return self.learning_rate * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


@dataclass(frozen=True)
class TrainingProgress:
    """Reported after every step; ``event`` says whether a checkpoint or preview was also written."""

    step: int
    steps: int
    elapsed: float
    losses: Mapping[str, float]
    learning_rate: float
    event: Literal["step", "checkpoint", "preview", "resumed"] = "step"
    path: Path | None = None


@dataclass
class TrainingResult:
    steps_done: int
    elapsed: float
    stopped_by: Literal["steps", "budget", "interrupt"]
    final_losses: dict[str, float]
    log: list[dict[str, float]] = field(default_factory=list)
    run_dir: Path = Path()


def train(
    objective: Objective,
    options: TrainingOptions,
    run_dir: Path,
    *,
    resume: bool = True,
    on_progress: Callable[[TrainingProgress], None] | None = None,
) -> TrainingResult:
    """Train ``objective.model`` until ``options.steps`` or the budget; checkpoints go to ``run_dir``.

    With ``resume`` an existing checkpoint in ``run_dir`` is continued exactly (same batches, same optimiser state);
    without it an existing checkpoint is an error, so a finished run is never overwritten by accident. On Ctrl-C the
    latest state is checkpointed before the interrupt propagates.
    """
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create {run_dir}: {error.strerror}") from error
    model = objective.model
    groups = objective.parameter_groups()
    optimizer = torch.optim.Adam(
        [{"params": params, "lr": options.learning_rate * scale, "scale": scale} for params, scale in groups],
        betas=(0.9, ADAM_BETA2),
    )
    checkpoint_path = run_dir / CHECKPOINT_NAME
    step, elapsed_before = 0, 0.0
    log: list[dict[str, float]] = []
    if checkpoint_path.exists():
        if not resume:
            raise OutputError(f"{checkpoint_path} exists: resume it, or choose another run folder")
        step, elapsed_before, log = _load_checkpoint(checkpoint_path, objective, optimizer, options)
        if on_progress is not None:
            on_progress(TrainingProgress(step, options.steps, elapsed_before, log[-1] if log else {}, 0.0, "resumed"))
    started = time.perf_counter()
    stopped_by: Literal["steps", "budget", "interrupt"] = "steps"
    model.train()
    try:
        while step < options.steps:
            if options.budget_seconds is not None and time.perf_counter() - started >= options.budget_seconds:
                stopped_by = "budget"
                break
            spent = 0.0
            if options.budget_seconds is not None:
                spent = (time.perf_counter() - started) / options.budget_seconds
            learning_rate = options.learning_rate_at(step, spent)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate * group["scale"]
            terms = objective.losses(step_generator(options.seed, step), options.batch_size)
            optimizer.zero_grad(set_to_none=True)
            terms["total"].backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            step += 1
            elapsed = elapsed_before + time.perf_counter() - started
            record = {name: float(value.detach()) for name, value in terms.items()}
            if not math.isfinite(record["total"]):
                raise TrainingError(
                    f"training diverged at step {step}: the loss is {record['total']}; try a lower --lr"
                )
            log.append({"step": float(step), "seconds": elapsed, "learning_rate": learning_rate, **record})
            event: Literal["step", "checkpoint", "preview"] = "step"
            path: Path | None = None
            if step % options.preview_every == 0 or step == options.steps:
                path = _write_preview(objective, run_dir, step)
                event = "preview"
            if step % options.checkpoint_every == 0 or step == options.steps:
                _save_checkpoint(checkpoint_path, objective, optimizer, options, step, elapsed, log)
                write_log(log, run_dir)
                event = "checkpoint" if event == "step" else event
            if on_progress is not None:
                on_progress(TrainingProgress(step, options.steps, elapsed, record, learning_rate, event, path))
    except KeyboardInterrupt:
        stopped_by = "interrupt"
    finally:
        model.eval()
    elapsed = elapsed_before + time.perf_counter() - started
    if log and int(log[-1]["step"]) == step:
        _save_checkpoint(checkpoint_path, objective, optimizer, options, step, elapsed, log)
        write_log(log, run_dir)
    result = TrainingResult(step, elapsed, stopped_by, final_losses(log), log, run_dir)
    if stopped_by == "interrupt":
        raise KeyboardInterrupt(f"training interrupted at step {step}; resume from {checkpoint_path}")
    return result


def write_log(log: list[dict[str, float]], run_dir: Path) -> None:
    """``log.json`` with every step, and ``loss.png`` (loss terms against the step, smoothed over 25 steps) where
    matplotlib is installed (a bare GPU machine may lack it; the log holds the same numbers)."""
    path = run_dir / LOG_NAME
    write_text_atomically(path, json.dumps(log))
    if importlib.util.find_spec("matplotlib") is None:
        return
    window = 25
    smoothed = []
    for index in range(len(log)):
        chunk = log[max(0, index - window + 1) : index + 1]
        smoothed.append({key: sum(row[key] for row in chunk) / len(chunk) for key in log[index]})
    plot_history(smoothed, run_dir / PLOT_NAME)


def final_losses(log: list[dict[str, float]], window: int = 50) -> dict[str, float]:
    """Mean of the last ``window`` steps of each loss term (single steps are noisy)."""
    if not log:
        return {}
    tail = log[-window:]
    keys = [key for key in tail[-1] if key not in ("step", "seconds", "learning_rate")]
    return {key: sum(row[key] for row in tail) / len(tail) for key in keys}


def _write_preview(objective: Objective, run_dir: Path, step: int) -> Path:
    model = objective.model
    model.eval()
    try:
        with torch.inference_mode():
            picture = objective.preview()
    finally:
        model.train()
    path = run_dir / "previews" / f"step_{step:06d}.png"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create {path.parent}: {error.strerror}") from error
    save_image(picture.clamp(0, 1), path)
    return path


def _save_checkpoint(
    path: Path,
    objective: Objective,
    optimizer: torch.optim.Optimizer,
    options: TrainingOptions,
    step: int,
    elapsed: float,
    log: list[dict[str, float]],
) -> None:
    state = {
        "format": CHECKPOINT_FORMAT,
        "step": step,
        "elapsed": elapsed,
        "model": objective.model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "options": dataclasses.asdict(options),
        "identity": json.dumps(objective.identity(), sort_keys=True),
        "log": json.dumps(log),
    }
    temporary = path.with_name(path.name + ".tmp")
    try:
        torch.save(state, temporary)
        os.replace(temporary, path)
    except OSError as error:
        raise OutputError(f"cannot write checkpoint {path}: {error.strerror}") from error


def _load_checkpoint(
    path: Path, objective: Objective, optimizer: torch.optim.Optimizer, options: TrainingOptions
) -> tuple[int, float, list[dict[str, float]]]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise TrainingError(f"{path} is not a readable painterly checkpoint ({type(error).__name__})") from error
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise TrainingError(f"{path} is not a painterly checkpoint of format {CHECKPOINT_FORMAT}")
    try:
        identity = json.dumps(objective.identity(), sort_keys=True)
        if state["identity"] != identity:
            raise ConfigError(
                f"{path} was made with different settings (network, styles or losses); use a new run folder"
            )
        saved = state["options"]
        # these shape the batches and the learning-rate schedule; --steps may change (the schedule then follows it)
        for name in ("seed", "batch_size", "learning_rate", "warmup_steps", "final_learning_rate_ratio"):
            if saved[name] != getattr(options, name):
                raise ConfigError(f"{path} was trained with {name}={saved[name]}; resume with the same value")
        objective.model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        return int(state["step"]), float(state["elapsed"]), list(json.loads(state["log"]))
    except ConfigError:
        raise
    except (KeyError, ValueError, RuntimeError) as error:
        raise TrainingError(f"{path} does not fit this run ({type(error).__name__}: {error})") from error


def write_text_atomically(path: Path, text: str) -> None:
    write_atomically(path, lambda handle: handle.write(text.encode()), durable=False)


def train_and_save(
    objective: Objective,
    options: TrainingOptions,
    run_dir: Path,
    save: Callable[[dict[str, Any]], Path],
    *,
    resume: bool = True,
    on_progress: Callable[[TrainingProgress], None] | None = None,
) -> tuple[TrainingResult, Path]:
    """:func:`train`, then ``save(record)`` however the run stopped (steps, budget or Ctrl-C): every stop leaves a
    usable model. ``record`` holds the steps done and planned, seconds, final losses, options, device and torch
    version; ``save`` adds what it knows and returns the model's path. An interrupt is re-raised after saving."""
    interrupted: KeyboardInterrupt | None = None
    result: TrainingResult | None = None
    try:
        result = train(objective, options, run_dir, resume=resume, on_progress=on_progress)
    except KeyboardInterrupt as error:
        interrupted = error
    log = read_log(run_dir)
    device = next(objective.model.parameters()).device
    record: dict[str, Any] = {
        "steps": int(log[-1]["step"]) if log else 0,
        "planned_steps": options.steps,
        "seconds": round(log[-1]["seconds"], 1) if log else 0.0,
        "final_losses": {key: round(value, 5) for key, value in final_losses(log).items()},
        "options": dataclasses.asdict(options),
        "device": f"{torch.get_num_threads()} CPU threads" if device.type == "cpu" else str(device),
        "torch": torch.__version__,
    }
    path = save(record)
    if interrupted is not None:
        raise interrupted
    assert result is not None
    return result, path


def read_log(run_dir: Path) -> list[dict[str, float]]:
    """The run's ``log.json`` (empty when there is none yet)."""
    path = run_dir / LOG_NAME
    if not path.is_file():
        return []
    try:
        return list(json.loads(path.read_text()))
    except (OSError, ValueError) as error:
        raise TrainingError(f"{path} is not a readable training log ({error})") from error


def build_seeded(factory: Callable[[], Model], seed: int) -> Model:
    """``factory()`` under ``torch.manual_seed(seed)`` (reproducible), leaving the global RNG as it was."""
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        return factory()
    finally:
        torch.random.set_rng_state(state)
