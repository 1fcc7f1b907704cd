"""ONNX export of a classifier run (and its pixel models), checked against torch, and an onnxruntime runtime.

``export_onnx(run, out)`` writes into the folder ``out``::

    OUT/classifier.onnx            the classifier: float32 N x 3 x H x W, pixel values 0..255 -> crack logits N x 1
    OUT/pixel-models/NAME.onnx     each pixel model: float32 N x 3 x H x W (0..255, H and W multiples of 8)
                                   -> crack logits N x 1 x H x W
    OUT/export.json                the run's config, each model's check and the pixel models' settings

Batch and side (height, width) are dynamic: any batch size, and for a classifier whose network pools globally any
side (a network with a fixed-size dense head keeps its trained side; ``ExportedModel.dynamic_side`` says which).
Every exported model is run by onnxruntime on the same batch as torch (float32), and the largest absolute
difference of their logits is reported (``ExportResult``) and stored.

The exporter is torch's ``torch.export``-based one (``dynamo=True``, the default since torch 2.9, which needs the
``onnxscript`` package): it traces the network as it is, including data-dependent shapes, and its TorchScript
predecessor is deprecated. Where it fails (a network it cannot trace, or no ``onnxscript``), the TorchScript
exporter is used and ``ExportResult.exporter`` says so.

:class:`OnnxClassifier` runs the exported classifier with onnxruntime behind the interface of
:class:`~crackscope.training.run.ClassifierRun` (``predict_proba``, ``classify``, ``threshold``...), so
``crackscope.training.predict`` and ``evaluate`` take it as a run; :class:`OnnxPixelModel` implements
:class:`~crackscope.maps.pixel_model.PixelPredictor` for maps. The CAM route of maps needs the torch network
(gradients of a layer), so it stays in torch.

onnx, onnxruntime and onnxscript are the optional extra ``crackscope[onnx]``; they are imported when used.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from crackscope.errors import BadInputError
from crackscope.maps.pixel_model import PREDICT_MARGIN, PREDICT_TILE, MeanPrediction
from crackscope.training.run import ClassifierRun

if TYPE_CHECKING:
    import torch

CLASSIFIER_FILE = "classifier.onnx"
PIXEL_MODELS_DIR = "pixel-models"
EXPORT_FILE = "export.json"
#: ONNX opset written by default (onnxruntime 1.17 and later run it)
DEFAULT_OPSET = 18
INPUT_NAME = "x"
OUTPUT_NAME = "logits"
#: pixel-model inference tiles (px) and the context margin around each: the torch models' (see OnnxPixelModel.predict)
PIXEL_TILE, PIXEL_MARGIN = PREDICT_TILE, PREDICT_MARGIN

_EXTRA = "pip install 'crackscope[onnx]'"


def _require(module: str) -> Any:
    """Import an optional package of the ``onnx`` extra, or say how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"ONNX export and runtime need {module}: {_EXTRA}") from None


@dataclass(frozen=True)
class ExportedModel:
    """One exported network and its check against torch.

    Attributes
    ----------
    name : str
        ``classifier`` or the pixel model's name.
    path : Path
        The ``.onnx`` file.
    max_abs_diff : float
        Largest absolute difference between onnxruntime's and torch's float32 logits on the same check batches.
    dynamic_side : bool
        Whether height and width are dynamic (else the model takes its trained side only).
    """

    name: str
    path: Path
    max_abs_diff: float
    dynamic_side: bool

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "file": self.path.name,
            "max_abs_diff": self.max_abs_diff,
            "dynamic_side": self.dynamic_side,
        }


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_onnx` wrote.

    Attributes
    ----------
    out : Path
        The export folder.
    classifier : ExportedModel
        The classifier.
    pixel_models : tuple of ExportedModel
        The pixel models (empty when none was exported).
    opset : int
        The ONNX opset.
    exporter : str
        ``dynamo`` (torch.export-based) or ``torchscript`` (the fallback), for the classifier.
    """

    out: Path
    classifier: ExportedModel
    pixel_models: tuple[ExportedModel, ...]
    opset: int
    exporter: str

    @property
    def paths(self) -> tuple[Path, ...]:
        """Every file written: the models, then ``export.json``."""
        return (self.classifier.path, *(m.path for m in self.pixel_models), self.out / EXPORT_FILE)

    @property
    def max_abs_diff(self) -> float:
        """The largest logit difference of all exported models."""
        return max(m.max_abs_diff for m in (self.classifier, *self.pixel_models))

    def as_dict(self) -> dict[str, object]:
        return {
            "opset": self.opset,
            "exporter": self.exporter,
            "classifier": self.classifier.as_dict(),
            "pixel_models": [m.as_dict() for m in self.pixel_models],
            "max_abs_diff": self.max_abs_diff,
        }


@contextlib.contextmanager
def _quiet_export() -> Iterator[None]:
    """Silence the exporter's progress lines and warnings (torch's logger level is put back afterwards)."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _export(net: torch.nn.Module, example: torch.Tensor, path: Path, *, opset: int, dynamic_side: bool) -> str:
    """Write ``net`` as ONNX to ``path`` (atomically); returns the exporter that worked."""
    import torch

    from crackscope.io import atomic_path

    axes = {0: "batch", 2: "height", 3: "width"} if dynamic_side else {0: "batch"}
    out_axes = {0: "batch", 2: "height", 3: "width"} if dynamic_side and example.ndim == 4 else {0: "batch"}
    names = {"input_names": [INPUT_NAME], "output_names": [OUTPUT_NAME], "opset_version": opset}
    with atomic_path(path) as tmp, _quiet_export():
        try:
            _require("onnxscript")
            dims = {i: torch.export.Dim.DYNAMIC for i in axes}
            torch.onnx.export(
                net,
                (example,),
                str(tmp),
                dynamo=True,
                external_data=False,
                verbose=False,
                dynamic_shapes={INPUT_NAME: dims},
                **names,  # type: ignore[arg-type]
            )
            return "dynamo"
        except (ImportError, RuntimeError, ValueError, TypeError, torch.onnx.errors.OnnxExporterError):
            torch.onnx.export(
                net,
                (example,),
                str(tmp),
                dynamo=False,
                dynamic_axes={INPUT_NAME: axes, OUTPUT_NAME: out_axes},
                **names,  # type: ignore[arg-type]
            )
            return "torchscript"


def _session(path: Path, *, threads: int | None = None) -> Any:
    """An onnxruntime session on the CPU for the model at ``path``.

    Raises
    ------
    BadInputError
        If the file is missing or onnxruntime cannot load it.
    """
    ort = _require("onnxruntime")
    if not path.is_file():
        raise BadInputError(path, "ONNX model not found; write it with `crackscope export RUN --format onnx`")
    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = int(threads)
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own classes for damaged files
        raise BadInputError(path, f"onnxruntime cannot load it ({str(exc).splitlines()[0]})") from None


def _run(session: Any, batch: np.ndarray) -> np.ndarray:
    out: np.ndarray = session.run(None, {INPUT_NAME: np.ascontiguousarray(batch, np.float32)})[0]
    return out


def _check(net: torch.nn.Module, session: Any, batches: Sequence[np.ndarray]) -> float:
    """Largest absolute logit difference between torch (float32) and onnxruntime on ``batches``."""
    import torch

    worst = 0.0
    with torch.inference_mode():
        for batch in batches:
            expected = net(torch.from_numpy(batch)).float().numpy()
            got = _run(session, batch)
            if got.shape != expected.shape:
                raise RuntimeError(f"ONNX output shape {got.shape} differs from torch's {expected.shape}")
            worst = max(worst, float(np.abs(got - expected).max()))
    return worst


def _random_batch(rng: np.random.Generator, n: int, h: int, w: int) -> np.ndarray:
    return rng.uniform(0.0, 255.0, (n, 3, h, w)).astype(np.float32)


def _pools_globally(net: torch.nn.Module, size: int) -> bool:
    """Whether the classifier takes another side than its trained one (and still gives one logit per image)."""
    import torch

    try:
        with torch.inference_mode():
            out = net(torch.full((1, 3, size + 16, size + 32), 128.0))
    except (RuntimeError, ValueError):
        return False
    return tuple(out.shape) == (1, 1)


def _cpu_float_copy(net: torch.nn.Module) -> torch.nn.Module:
    import torch

    return copy.deepcopy(net).cpu().float().to(memory_format=torch.contiguous_format).eval()  # type: ignore[call-overload, no-any-return]


def _export_classifier(run: ClassifierRun, out: Path, *, opset: int) -> tuple[ExportedModel, str]:
    import torch

    net = _cpu_float_copy(run.model)
    size = run.image_size
    dynamic = _pools_globally(net, size)
    path = out / CLASSIFIER_FILE
    exporter = _export(net, torch.full((2, 3, size, size), 128.0), path, opset=opset, dynamic_side=dynamic)
    rng = np.random.default_rng(0)
    batches = [_random_batch(rng, 3, size, size)]
    if dynamic:
        batches.append(_random_batch(rng, 2, size + 8, size + 24))
    diff = _check(net, _session(path), batches)
    return ExportedModel("classifier", path, diff, dynamic), exporter


def _export_pixel_model(folder: Path, out: Path, *, opset: int) -> tuple[ExportedModel, dict[str, Any]]:
    import torch

    from crackscope.maps.pixel_model import load_pixel_model

    model = load_pixel_model(folder)
    net = _cpu_float_copy(model.net)
    path = out / PIXEL_MODELS_DIR / f"{folder.name}.onnx"
    _export(net, torch.full((1, 3, 64, 64), 128.0), path, opset=opset, dynamic_side=True)
    rng = np.random.default_rng(0)
    diff = _check(net, _session(path), [_random_batch(rng, 2, 64, 96), _random_batch(rng, 1, 128, 72)])
    return ExportedModel(folder.name, path, diff, True), model.config


def _pixel_model_folders(run_dir: Path, which: bool | Sequence[str]) -> list[Path]:
    """The pixel-model folders to export: all of ``RUN/pixel-models/`` (True), none (False) or those named."""
    from crackscope.maps.pixel_model import CONFIG_FILE, MODEL_FILE

    root = run_dir / PIXEL_MODELS_DIR
    if which is True:
        found = sorted(root.iterdir()) if root.is_dir() else []
        return [p for p in found if (p / MODEL_FILE).is_file() and (p / CONFIG_FILE).is_file()]
    if which is False:
        return []
    from crackscope.maps.factory import pixel_model_paths

    return pixel_model_paths(run_dir, list(which))


def export_onnx(
    run: ClassifierRun | str | Path,
    out: str | Path,
    *,
    opset: int = DEFAULT_OPSET,
    pixel_models: bool | Sequence[str] = True,
) -> ExportResult:
    """Export a classifier run (and its pixel models) as ONNX into the folder ``out``, checked against torch.

    Parameters
    ----------
    run : ClassifierRun, str or Path
        A loaded classifier run, a run folder or ``builtin``.
    out : str or Path
        The export folder (made if missing): ``classifier.onnx``, ``pixel-models/NAME.onnx``, ``export.json``.
    opset : int
        The ONNX opset (at least 17, where LayerNormalization is an operator).
    pixel_models : bool or sequence of str
        True: every pixel model in ``RUN/pixel-models/``; False: none; names: those (looked up as a recipe's
        pixel models are, in ``RUN/pixel-models/`` or as folders).

    Returns
    -------
    ExportResult
        The files and, for each model, the largest absolute logit difference between onnxruntime and torch
        (float32) on the same batches (random pixels, at the trained side and, where dynamic, another side).

    Raises
    ------
    BadInputError
        If ``run`` is not a classifier run, or a named pixel model is missing.
    ValueError
        If ``opset`` is below 17.
    ImportError
        If onnx, onnxruntime or onnxscript is not installed (``pip install 'crackscope[onnx]'``).
    """
    from crackscope.io import versions, write_json_atomic
    from crackscope.runs import run_kind
    from crackscope.training.run import load_run

    if opset < 17:
        raise ValueError(f"opset must be at least 17, got {opset}")
    _require("onnx")
    _require("onnxruntime")
    if not isinstance(run, ClassifierRun):
        kind = run_kind(run)
        if kind != "classifier":
            raise BadInputError(Path(run), f"only classifier runs export to ONNX (this is a {kind} run)")
        run = load_run(run, device="cpu")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    classifier, exporter = _export_classifier(run, out, opset=opset)
    exported: list[ExportedModel] = []
    configs: dict[str, dict[str, Any]] = {}
    for folder in _pixel_model_folders(run.path, pixel_models):
        model, config = _export_pixel_model(folder, out, opset=opset)
        exported.append(model)
        configs[model.name] = config
    result = ExportResult(out, classifier, tuple(exported), opset, exporter)
    record = {
        "format": "onnx",
        "run": str(run.path),
        "input": "float32 N x 3 x H x W, RGB pixel values 0..255",
        "output": "crack logits (classifier N x 1; pixel models N x 1 x H x W); probability = sigmoid(logit)",
        **result.as_dict(),
        "config": run.config,
        "pixel_model_configs": configs,
        "versions": versions(),
    }
    write_json_atomic(out / EXPORT_FILE, json.loads(json.dumps(record, default=str)))
    return result


def read_export(folder: str | Path) -> dict[str, Any]:
    """The ``export.json`` of an export folder.

    Raises
    ------
    BadInputError
        If the folder holds no ``export.json`` (or it is not a JSON object).
    """
    from crackscope.io import read_json_object

    path = Path(folder) / EXPORT_FILE
    if not path.is_file():
        raise BadInputError(
            Path(folder), "not an ONNX export folder (no export.json); write one with `crackscope export`"
        )
    return read_json_object(path)


def _onnx_network(session: Any) -> torch.nn.Module:
    """A torch module whose forward runs ``session`` (float32 in and out, on the CPU, no gradients)."""
    import torch

    class OnnxNetwork(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.session = session

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            batch = x.detach().float().cpu().contiguous().numpy()
            return torch.from_numpy(_run(self.session, batch))

    return OnnxNetwork().eval()


class OnnxClassifier(ClassifierRun):
    """An exported classifier run on onnxruntime: the interface of :class:`~crackscope.training.run.ClassifierRun`
    (``predict_logits``, ``predict_proba``, ``classify``, ``threshold``, ``image_size``, ``preprocess``...), so
    ``crackscope.training.predict(OnnxClassifier.load(folder), photos)`` classifies with it. Its ``model`` runs the
    ONNX network in float32 on the CPU (no gradients: no CAM). ``path`` is the export folder.

    Use :meth:`load` (or :func:`load_onnx_classifier`).
    """

    def __init__(self, path: Path, config: dict[str, Any], session: Any) -> None:
        super().__init__(path=path, config=config, model=_onnx_network(session))
        self.session = session

    @classmethod
    def load(cls, folder: str | Path, *, threads: int | None = None) -> OnnxClassifier:
        """The classifier of the export folder ``folder`` (``threads``: onnxruntime's intra-op threads; None:
        its default, one per physical core).

        Raises
        ------
        BadInputError
            If the folder is no export folder or its model cannot be loaded.
        ImportError
            If onnxruntime is not installed.
        """
        folder = Path(folder)
        record = read_export(folder)
        config = record.get("config")
        if not isinstance(config, dict) or "image_size" not in config:
            raise BadInputError(folder / EXPORT_FILE, "holds no run config")
        return cls(folder, config, _session(folder / CLASSIFIER_FILE, threads=threads))

    def predict_logits(self, images: Sequence[np.ndarray], *, batch_size: int = 64) -> np.ndarray:
        """Crack logits for a list of RGB images (area-resized to the run's side), in batches.

        Raises
        ------
        ValueError
            If ``batch_size`` is not positive.
        """
        from crackscope.training.torchdata import resize_square

        if batch_size < 1:
            raise ValueError(f"batch size must be positive, got {batch_size}")
        out = []
        for start in range(0, len(images), batch_size):
            chunk = images[start : start + batch_size]
            pixels = np.stack([resize_square(np.asarray(im), self.image_size) for im in chunk])
            out.append(_run(self.session, pixels.transpose(0, 3, 1, 2).astype(np.float32)).reshape(-1))
        return np.concatenate(out) if out else np.empty(0, np.float32)


class OnnxPixelModel:
    """An exported pixel model on onnxruntime: ``predict(image) -> float32 HxW`` crack probability (a
    :class:`~crackscope.maps.pixel_model.PixelPredictor`). ``config`` is the model's ``pixel_model.json``,
    ``source`` its ``.onnx`` file.

    Photos are cut into crops of at most ``PIXEL_TILE`` px whose cores are equal and carry ``PIXEL_MARGIN`` px of
    context on each side (reflection-padded to one crop shape per photo, so the crops of a photo run in batches);
    each pixel's probability comes from the crop whose core holds it.
    """

    def __init__(self, session: Any, config: dict[str, Any], source: str | None = None, *, batch_size: int = 4) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.session = session
        self.config = config
        self.source = source
        self.batch_size = int(batch_size)

    def predict(self, image: np.ndarray, *, tile: int = PIXEL_TILE, margin: int = PIXEL_MARGIN) -> np.ndarray:
        """Crack probability per pixel (float32 HxW in [0, 1]).

        Raises
        ------
        ValueError
            If ``image`` is not HxWx3 uint8, or ``tile`` is not a multiple of 8 larger than ``2 * margin``.
        """
        from crackscope.maps.pixel_model import tiled_probability

        def logits(crops: np.ndarray) -> np.ndarray:
            out: np.ndarray = _run(self.session, crops.transpose(0, 3, 1, 2).astype(np.float32))[:, 0]
            return out

        return tiled_probability(image, logits, tile=tile, margin=margin, batch_size=self.batch_size)


class OnnxPixelEnsemble(MeanPrediction["OnnxPixelModel"]):
    """Several exported pixel models as one (their mean probability), as
    :class:`~crackscope.maps.pixel_model.PixelEnsemble` is for torch models; ``config`` is the first's."""


def load_onnx_classifier(folder: str | Path, *, threads: int | None = None) -> OnnxClassifier:
    """The classifier of an export folder on onnxruntime (:meth:`OnnxClassifier.load`).

    Raises
    ------
    BadInputError
        If the folder is no export folder or its model cannot be loaded.
    ImportError
        If onnxruntime is not installed.
    """
    return OnnxClassifier.load(folder, threads=threads)


def load_onnx_pixel_models(
    folder: str | Path, names: Sequence[str] | None = None, *, threads: int | None = None
) -> OnnxPixelModel | OnnxPixelEnsemble:
    """The exported pixel models ``names`` of an export folder (None: all exported), one or an ensemble.

    Raises
    ------
    BadInputError
        If the folder is no export folder, holds no pixel model, or a named one was not exported.
    ImportError
        If onnxruntime is not installed.
    """
    folder = Path(folder)
    record = read_export(folder)
    exported = [str(m["name"]) for m in record.get("pixel_models") or []]
    configs = record.get("pixel_model_configs") or {}
    chosen = exported if names is None else list(names)
    missing = [name for name in chosen if name not in exported]
    if missing or not chosen:
        what = f"pixel model {missing[0]!r} was not exported" if missing else "no pixel model was exported"
        raise BadInputError(folder, f"{what} (exported: {', '.join(exported) or 'none'})")
    models = []
    for name in chosen:
        path = folder / PIXEL_MODELS_DIR / f"{name}.onnx"
        models.append(OnnxPixelModel(_session(path, threads=threads), dict(configs.get(name) or {}), source=str(path)))
    return models[0] if len(models) == 1 else OnnxPixelEnsemble(models)
