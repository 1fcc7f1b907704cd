"""Loading user-supplied weights (for example torchvision's ImageNet files) into our networks.

Nothing is ever downloaded: the user passes a local ``.pth``/``.pt`` (read with
``torch.load(weights_only=True)``) or ``.safetensors`` file. Tensors whose shape does not fit (the
1000-class ImageNet head against our single crack logit) are dropped, and the keys that are missing or
unexpected are reported by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from crackscope.errors import BadInputError

TORCHVISION_URL = "https://download.pytorch.org/models/"

# The official torchvision ImageNet files each classic backbone accepts.
OFFICIAL_WEIGHTS: dict[str, tuple[str, ...]] = {
    "vgg16": ("vgg16-397923af.pth",),
    "resnet50": ("resnet50-0676ba61.pth", "resnet50-11ad3fa6.pth"),
    "vgg19": ("vgg19-dcbb9e9d.pth",),  # the UP-CrackNet style term's feature extractor
}

_SUFFIXES = (".pth", ".pt", ".safetensors")


@dataclass(frozen=True)
class LoadReport:
    """What :func:`load_pretrained` did: key names per outcome."""

    path: Path
    loaded: tuple[str, ...]
    dropped: tuple[str, ...] = ()  # in both, shapes differ (e.g. the ImageNet head)
    missing: tuple[str, ...] = ()  # in the model, not in the file (left as initialised)
    unexpected: tuple[str, ...] = ()  # in the file, not in the model (ignored)
    notes: tuple[str, ...] = field(default=())

    def summary(self) -> str:
        parts = [f"{self.path.name}: loaded {len(self.loaded)} tensors"]
        for label, keys in (("dropped (shape differs)", self.dropped), ("missing", self.missing),
                            ("unexpected", self.unexpected)):  # fmt: skip
            if keys:
                parts.append(f"{label}: {_short(keys)}")
        return "; ".join(parts)


def _short(keys: tuple[str, ...], limit: int = 6) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" (+{len(keys) - limit} more)" if len(keys) > limit else "")


def official_weights_hint(model_name: str) -> str:
    files = OFFICIAL_WEIGHTS.get(model_name)
    if not files:
        return f"'{model_name}' has no official ImageNet file; pass weights saved from a '{model_name}' model"
    names = " or ".join(f"{TORCHVISION_URL}{f}" for f in files)
    return f"download the official torchvision ImageNet weights for '{model_name}' ({names}) and pass its path"


def read_state_dict(path: str | Path, *, model_name: str = "") -> dict[str, torch.Tensor]:
    """Read a state dict from ``.pth``/``.pt`` or ``.safetensors``; bad files raise ``BadInputError``."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(path, f"weights file not found; {official_weights_hint(model_name)}")
    suffix = path.suffix.lower()
    if suffix not in _SUFFIXES:
        raise BadInputError(path, f"unsupported weights format {suffix or '(none)'}; use .pth, .pt or .safetensors")
    state: object  # whatever the file holds; checked below
    try:
        if suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt or non-weights file: name it and say why
        raise BadInputError(path, f"cannot read weights: {exc}") from exc
    # Common wrappers: {"state_dict": ...} / {"model": ...}; DataParallel "module." prefixes.
    for key in ("state_dict", "model"):
        if isinstance(state, Mapping) and isinstance(state.get(key), Mapping):
            state = state[key]
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise BadInputError(path, "not a state dict (a mapping of parameter names to tensors)")
    return {k.removeprefix("module."): v for k, v in state.items()}


def load_pretrained(model: nn.Module, path: str | Path, *, model_name: str, strict: bool = True) -> LoadReport:
    """Load the weights at ``path`` into ``model`` in place and report what happened.

    Tensors whose shape differs from the model's (the ImageNet classifier head) are dropped and keep
    their fresh initialisation. With ``strict`` (the default) every other model tensor must be in the file
    and the file may hold nothing else; otherwise a ``BadInputError`` lists the offending keys. With
    ``strict=False`` any overlap is loaded and the report lists the rest. No overlap at all is always an
    error (wrong architecture).
    """
    path = Path(path)
    state = read_state_dict(path, model_name=model_name)
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and v.shape == own[k].shape}
    dropped = tuple(k for k in state if k in own and state[k].shape != own[k].shape)
    # BN's num_batches_tracked is absent from older torchvision files and carries no weights.
    missing = tuple(k for k in own if k not in state and not k.endswith("num_batches_tracked"))
    unexpected = tuple(k for k in state if k not in own)
    report = LoadReport(path, tuple(usable), dropped, missing, unexpected)
    if not usable:
        hint = official_weights_hint(model_name)
        raise BadInputError(path, f"no tensor matches the '{model_name}' architecture; {hint}")
    if strict and (missing or unexpected):
        raise BadInputError(
            path,
            f"weights do not fit '{model_name}': {report.summary()} (pass strict=False to load the overlap)",
        )
    model.load_state_dict(usable, strict=False)
    return report


def with_weights(model: nn.Module, weights: str | Path | None, *, model_name: str) -> nn.Module:
    """``model`` with the user's weights loaded from ``weights`` (a no-op when ``weights`` is None)."""
    if weights is not None:
        load_pretrained(model, weights, model_name=model_name)
    return model
