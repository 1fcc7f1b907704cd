"""``map_images_ray``: :func:`~crackscope.maps.pipeline.map_images` on a Ray cluster (Ray Data ``map_batches``).

The output folder is the plain engine's, file for file (``masks/``, ``probability/``, ``skeletons/``,
``overlays/``, ``records/``, ``cracks.csv``, ``summary.json``): every photo is mapped and written by
:func:`~crackscope.maps.pipeline.map_one` with the same settings record, so a rerun with either engine skips the
photos the other finished. Which photos to map is decided here first (finished ones are skipped, a clash of file
names is reported); the others go to a pool of Ray actors, each of which builds one mapper
(:func:`~crackscope.maps.factory.make_mapper`, the model loaded once per worker, on the worker's GPU when it has
one) and maps its photos one at a time, writing the files itself. A photo that cannot be read or mapped is
reported with its problem while the others finish; ``cracks.csv`` and ``summary.json`` are rebuilt from the
records at the end, also when the run stops early.

Without an address a local Ray is started on this machine and stopped afterwards; with one (``ray://HOST:10001``
or ``auto``) the run joins that cluster, whose nodes must see the run folder, the photos and OUT at the same paths
(a shared file system). Ray is the optional extra ``crackscope[ray]``, imported only here and only when called:
the plain engine never imports it.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crackscope.errors import BadInputError
from crackscope.inputs import INPUT_ERRORS, expand_inputs, problem_of
from crackscope.maps.recipe import MapRecipe
from crackscope.progress import OnProgress, report


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide a Ray run maps.

    Attributes
    ----------
    address : str or None
        The cluster to join (``auto``, ``ray://HOST:10001``, ``HOST:6379``); None starts a local Ray on this
        machine for the call.
    num_workers : int or None
        Mapping actors (each holds one model). None: one per CPU of a local Ray (less the driver's share), or
        per GPU with ``num_gpus_per_worker``; on a cluster, the cluster's CPUs (or GPUs) divided likewise.
    num_gpus_per_worker : float
        GPUs each actor reserves (0: CPU actors; 1: one GPU each; 0.5: two actors share a GPU).
    num_cpus_per_worker : float
        CPUs each actor reserves; its torch threads are this, rounded up.
    batch_size : int
        Photos handed to an actor at a time.

    Raises
    ------
    ValueError
        When made with a value out of range, naming the field.
    """

    address: str | None = None
    num_workers: int | None = None
    num_gpus_per_worker: float = 0.0
    num_cpus_per_worker: float = 1.0
    batch_size: int = 1

    def __post_init__(self) -> None:
        if self.num_workers is not None and (isinstance(self.num_workers, bool) or self.num_workers < 1):
            raise ValueError(f"num_workers must be a whole number >= 1, got {self.num_workers!r}")
        if not self.num_gpus_per_worker >= 0:
            raise ValueError(f"num_gpus_per_worker must be >= 0, got {self.num_gpus_per_worker!r}")
        if not self.num_cpus_per_worker > 0:
            raise ValueError(f"num_cpus_per_worker must be > 0, got {self.num_cpus_per_worker!r}")
        if isinstance(self.batch_size, bool) or self.batch_size < 1:
            raise ValueError(f"batch_size must be a whole number >= 1, got {self.batch_size!r}")


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ImportError("the Ray engine needs Ray Data: pip install 'crackscope[ray]'") from None
    return ray


class MapWorker:
    """A Ray Data actor: one mapper (one model), mapping and writing the photos of each batch it is given.

    A batch holds ``path`` and ``stem`` columns; the result has ``path``, ``stem`` and ``problem`` (empty when the
    photo was mapped). The actor works in the driver's folder ``cwd`` where that folder exists (relative paths then
    mean what they meant to the caller, and the records name the photos as the plain engine's do).
    """

    def __init__(
        self,
        run: str,
        recipe: MapRecipe | str | None,
        out: str,
        mm_per_px: float | None,
        settings: dict[str, Any],
        threads: int = 1,
        cwd: str | None = None,
    ) -> None:
        import torch

        from crackscope.maps.factory import make_mapper

        if cwd is not None and Path(cwd).is_dir():
            os.chdir(cwd)  # this process is the actor's own
        torch.set_num_threads(max(1, threads))
        self.mapper = make_mapper(run, recipe, class_map=False)  # the outputs of map_images show no class map
        self.out = Path(out)
        self.mm_per_px = mm_per_px
        self.settings = settings

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[str]]:
        from crackscope.maps.pipeline import map_one

        result: dict[str, list[str]] = {"path": [], "stem": [], "problem": []}
        for path, stem in zip(batch["path"], batch["stem"], strict=True):
            problem = ""
            try:
                map_one(
                    self.mapper, Path(path), self.out, stem=str(stem), mm_per_px=self.mm_per_px, settings=self.settings
                )
            except INPUT_ERRORS as exc:
                problem = problem_of(exc) or type(exc).__name__
            result["path"].append(str(path))
            result["stem"].append(str(stem))
            result["problem"].append(problem)
        return result


def _run_settings(run: str | Path, recipe: MapRecipe | str | None, mm_per_px: float | None) -> dict[str, Any]:
    """The settings record of every photo, as :func:`~crackscope.maps.pipeline.map_images` stores it (the mapper is
    built here on the CPU only to say its settings)."""
    from crackscope.maps.factory import make_mapper
    from crackscope.maps.pipeline import run_settings
    from crackscope.runs import open_run

    return run_settings(run, make_mapper(open_run(run, device="cpu"), recipe), mm_per_px=mm_per_px)


def _start(ray: Any, options: RayOptions) -> bool:
    """Join the cluster or start a local Ray; True when this call started (and so stops) it."""
    if ray.is_initialized():
        return False
    if options.address is not None:
        ray.init(address=options.address, log_to_driver=False)
    else:
        ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, log_to_driver=False)
    return True


def _pool_size(ray: Any, options: RayOptions, photos: int) -> int:
    """Actors to start: ``num_workers``, else as many as the cluster's CPUs (GPUs) allow, at most one per photo."""
    if options.num_workers is not None:
        return max(1, min(options.num_workers, photos))
    resources = ray.cluster_resources()
    if options.num_gpus_per_worker > 0:
        fit = int(resources.get("GPU", 0) // options.num_gpus_per_worker)
    else:
        fit = int(resources.get("CPU", 1) // options.num_cpus_per_worker)
    return max(1, min(fit, photos))


def _mapped(
    ray: Any,
    todo: list[dict[str, str]],
    *,
    run: str | Path,
    recipe: MapRecipe | str | None,
    out: Path,
    mm_per_px: float | None,
    settings: dict[str, Any],
    cluster: RayOptions,
) -> Iterator[dict[str, str]]:
    """Map ``todo`` (``path``, ``stem`` rows) on a pool of :class:`MapWorker` actors; yields each photo's row
    (with its ``problem``, empty when mapped) as it finishes."""
    with warnings.catch_warnings():  # Ray's own deprecation notes about settings this module never sets
        warnings.simplefilter("ignore", DeprecationWarning)
        context = ray.data.DataContext.get_current()
    bars = context.enable_progress_bars
    context.enable_progress_bars = False  # progress goes to on_progress
    try:
        photos = ray.data.from_items(todo, override_num_blocks=len(todo))  # one block a photo: spread over actors
        mapped = photos.map_batches(
            MapWorker,
            batch_size=cluster.batch_size,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=_pool_size(ray, cluster, len(todo))),
            fn_constructor_kwargs={
                "run": str(run),
                "recipe": recipe,
                "out": str(out),
                "mm_per_px": mm_per_px,
                "settings": settings,
                "threads": max(1, math.ceil(cluster.num_cpus_per_worker)),
                "cwd": os.getcwd(),
            },
            num_cpus=cluster.num_cpus_per_worker,
            num_gpus=cluster.num_gpus_per_worker or None,
        )
        for row in mapped.iter_rows():
            yield {key: str(row[key]) for key in ("path", "stem", "problem")}
    finally:
        context.enable_progress_bars = bars


def map_images_ray(
    run: str | Path,
    inputs: Iterable[str | Path] | str | Path,
    out: str | Path,
    *,
    recipe: MapRecipe | str | None = None,
    mm_per_px: float | None = None,
    cluster: RayOptions = RayOptions(),
    overwrite: bool = False,
    on_progress: OnProgress | None = None,
) -> dict[str, Any]:
    """Map every input photo with ``run`` on Ray and write the output folder of the plain engine.

    Parameters
    ----------
    run : str or Path
        A run folder or ``builtin``; every worker opens it (so it must be at this path on every node).
    inputs : iterable of str or Path, or one
        Files, folders and glob patterns of photos.
    out : str or Path
        The output folder (shared by every node).
    recipe : MapRecipe, str or None
        A recipe or preset name (None: the run's own recipe).
    mm_per_px : float or None
        Pixel size for measurements in millimetres.
    cluster : RayOptions
        The cluster address (None: a local Ray for this call), the number of workers and their CPUs and GPUs.
    overwrite : bool
        Map photos again that are finished with the same settings.
    on_progress : OnProgress or None
        Told of the photos done (``"mapping"``).

    Returns
    -------
    dict
        The summary (also ``OUT/summary.json``), as :func:`~crackscope.maps.pipeline.map_images` returns it.

    Raises
    ------
    ValueError
        If ``mm_per_px`` is not positive.
    BadInputError
        If the run, the preset or a pixel model the recipe needs cannot be found.
    ImportError
        If Ray Data is not installed (``pip install 'crackscope[ray]'``).
    """
    from crackscope.io import manifest
    from crackscope.maps.pipeline import finished_record, prepare_output, write_summary

    if mm_per_px is not None and not mm_per_px > 0:
        raise ValueError(f"mm_per_px must be > 0, got {mm_per_px}")
    ray = _ray()
    out = Path(out)
    paths, input_problems = expand_inputs([inputs] if isinstance(inputs, (str, Path)) else inputs)
    settings = _run_settings(run, recipe, mm_per_px)
    prepare_output(out)

    errors: list[dict[str, str]] = [{"file": str(path), "problem": problem} for path, problem in input_problems]
    counts = {"inputs": len(paths), "mapped": 0, "skipped": 0, "errors": len(errors)}
    seen: dict[str, Path] = {}
    todo: list[dict[str, str]] = []
    for path in paths:
        if path.stem in seen:
            problem = BadInputError(path, f"same file name as {seen[path.stem]}; outputs would collide").problem
            errors.append({"file": str(path), "problem": problem})
            counts["errors"] += 1
            continue
        seen[path.stem] = path
        if not overwrite and finished_record(out, path.stem, settings) is not None:
            counts["skipped"] += 1
        else:
            todo.append({"path": str(path), "stem": path.stem})
    done = len(paths) - len(todo)
    report(on_progress, "mapping", done, len(paths))
    try:
        if todo:
            started = _start(ray, cluster)
            try:
                rows = _mapped(
                    ray, todo, run=run, recipe=recipe, out=out, mm_per_px=mm_per_px, settings=settings, cluster=cluster
                )
                for row in rows:
                    if row["problem"]:
                        errors.append({"file": row["path"], "problem": row["problem"]})
                        counts["errors"] += 1
                    else:
                        counts["mapped"] += 1
                    done += 1
                    report(on_progress, "mapping", done, len(paths))
            finally:
                if started:
                    ray.shutdown()
    finally:  # what is finished is summed up, also when the run stops early
        settings_record = {**settings, "engine": "ray"}
        run_manifest = manifest(command="map", inputs=[str(p) for p in paths], settings=settings_record)
        summary = write_summary(out, errors, counts, set(seen), run_manifest)
    return summary
