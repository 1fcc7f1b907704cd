"""Folder layouts people have for labelled crack images, detected and read into one ``Dataset``.

Three layouts are understood:

- ``class-folders``: one folder per class, e.g. ``cracked/`` + ``uncracked/``, ``Positive/`` + ``Negative/``
  (any case), ``1_cracked/`` + ``0_uncracked/``, or SDNET2018-style folders whose names start with ``C``
  (cracked) or ``U`` (uncracked) such as ``CD/UD/CP/UP/CW/UW``, also nested one level (``D/CD``, ``P/UP``).
- ``filename-labels``: image files labelled by name (``noncrack_*`` = uncracked, any other name = cracked, as in
  the Kaggle Crack Segmentation Dataset), in the folder itself or in its ``images/`` sub-folder; a
  ``labels.csv`` (``filename,class``) in the folder overrides the name rule for the files it lists.
- ``image-mask``: ``images/`` + ``masks/`` with matching file stems (any extensions); crack = nonzero mask pixel
  (masks are read by the rule of ``crackscope.io``: JPEG/WebP masks at >= 128, with a warning).

Files are checked by the reading gate of ``crackscope.io`` (pixel limit, minimum side, EXIF orientation: the
sizes compared are those of the upright pictures). Bad files are never fatal on their own: unreadable files,
masks whose size differs from their image and **ambiguous pairings** (two images such as ``a.png`` and
``a.jpg`` for one mask ``masks/a.png``, or two masks such as ``a.png`` and ``a.tif`` with one stem) are
reported in ``Dataset.skipped`` with a reason naming both files, and left out. An empty folder, an unknown
layout or a folder with no usable image raises ``BadInputError`` naming the folder and what was expected.
"""

from __future__ import annotations

import csv
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from crackscope.errors import BadInputError
from crackscope.io import MIN_SIDE, image_shape, is_image_file, read_image, read_mask

LAYOUTS = ("class-folders", "filename-labels", "image-mask")
CLASS_NAMES = {1: "cracked", 0: "uncracked"}

_CRACKED_FOLDERS = {"cracked", "crack", "cracks", "positive", "1_cracked"}
_UNCRACKED_FOLDERS = {
    "uncracked",
    "non-cracked",
    "noncracked",
    "noncrack",
    "non-crack",
    "no_crack",
    "no-crack",
    "nocrack",
    "negative",
    "0_uncracked",
}
# SDNET2018: CD/UD (decks), CP/UP (pavements), CW/UW (walls); upper case only, so ordinary folders don't match.
_SDNET_FOLDER = re.compile(r"^([CU])[A-Z0-9]{0,2}$")
_IMAGE_DIRS = ("images", "image", "imgs", "img")
_MASK_DIRS = ("masks", "mask", "gt", "groundtruth", "ground_truth")
_MASK_SUFFIXES = ("", "_mask", "_gt", "_label", "-mask")
_LABEL_VALUES = {
    "cracked": 1,
    "crack": 1,
    "positive": 1,
    "pos": 1,
    "1": 1,
    "true": 1,
    "yes": 1,
    "uncracked": 0,
    "noncrack": 0,
    "non-crack": 0,
    "no-crack": 0,
    "no_crack": 0,
    "negative": 0,
    "neg": 0,
    "0": 0,
    "false": 0,
    "no": 0,
}

EXPECTED = (
    "expected one of: class folders (cracked/ + uncracked/, Positive/ + Negative/, 1_cracked/ + 0_uncracked/, "
    "or SDNET2018-style C*/U* folders such as CD/ + UD/, possibly nested like D/CD/); "
    "image + mask folders (images/ + masks/ with matching file names); "
    "or image files labelled by name (noncrack_* = uncracked, others cracked) or by a labels.csv (filename,class)"
)


@dataclass(frozen=True)
class Sample:
    """One image file: its label (1 cracked, 0 uncracked, None = decided later from its mask), mask, group.

    ``group`` is the source-photo id (the file stem) that keeps related images in one split;
    ``shape`` is (H, W) read from the file header.
    """

    path: Path
    label: int | None
    mask_path: Path | None
    group: str
    shape: tuple[int, int] | None = None


@dataclass
class Dataset:
    """The readable samples of a folder, its layout, and the files skipped with the reason."""

    root: Path
    layout: str
    samples: list[Sample]
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Number of samples per class name (``unlabelled`` for image+mask samples before patching)."""
        counts = Counter(
            "unlabelled" if s.label is None else CLASS_NAMES.get(s.label, "unlabelled") for s in self.samples
        )
        return dict(counts)

    def __len__(self) -> int:
        return len(self.samples)


def label_from_name(name: str) -> int:
    """Kaggle Crack Segmentation rule: ``noncrack_*`` is uncracked (0), any other name is cracked (1)."""
    return 0 if Path(name).name.lower().startswith("noncrack") else 1


def parse_class(value: str) -> int | None:
    """``cracked``/``uncracked`` (and common synonyms, 1/0) as 1/0; None when not recognised."""
    return _LABEL_VALUES.get(value.strip().lower())


def class_of_folder(name: str) -> int | None:
    """1 for a cracked-class folder name, 0 for an uncracked one, None otherwise."""
    low = name.lower()
    if low in _CRACKED_FOLDERS:
        return 1
    if low in _UNCRACKED_FOLDERS:
        return 0
    m = _SDNET_FOLDER.match(name)
    if m:
        return 1 if m.group(1) == "C" else 0
    return None


def _subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _image_files(folder: Path, *, recursive: bool = False) -> list[Path]:
    pattern = "**/*" if recursive else "*"
    return sorted(p for p in folder.glob(pattern) if p.is_file() and is_image_file(p) and not p.name.startswith("."))


def _find_child(folder: Path, names: tuple[str, ...]) -> Path | None:
    by_name = {p.name.lower(): p for p in _subdirs(folder)}
    for name in names:
        if name in by_name:
            return by_name[name]
    return None


def _class_folders(root: Path) -> list[tuple[Path, int]]:
    """Class folders directly in ``root`` or one level down (SDNET2018 ``D/CD``)."""
    found = [(d, c) for d in _subdirs(root) if (c := class_of_folder(d.name)) is not None]
    if found:
        return found
    for parent in _subdirs(root):
        found.extend((d, c) for d in _subdirs(parent) if (c := class_of_folder(d.name)) is not None)
    return found


def _check_root(root: Path) -> None:
    if not root.exists():
        raise BadInputError(root, "no such folder")
    if not root.is_dir():
        raise BadInputError(root, "is a file, not a dataset folder")
    if not any(p for p in root.iterdir() if not p.name.startswith(".")):
        raise BadInputError(root, f"folder is empty; {EXPECTED}")


def detect_layout(root: str | Path) -> str:
    """The layout of ``root``: ``image-mask``, ``class-folders`` or ``filename-labels``.

    Raises BadInputError naming the folder, what it contains and what was expected when none fits.
    """
    root = Path(root)
    _check_root(root)
    if _find_child(root, _IMAGE_DIRS) and _find_child(root, _MASK_DIRS):
        return "image-mask"
    if _class_folders(root):
        return "class-folders"
    if _image_files(root) or (root / "labels.csv").is_file() or _find_child(root, _IMAGE_DIRS):
        return "filename-labels"
    subdirs = [d.name for d in _subdirs(root)]
    found = f"sub-folders {', '.join(subdirs[:8])}" if subdirs else "no sub-folders"
    raise BadInputError(root, f"unknown dataset layout (found {found} and no image files); {EXPECTED}")


def _header(path: Path, *, mask: bool = False) -> tuple[tuple[int, int] | None, str | None]:
    """Upright (H, W) from the file header, or (None, problem) when the reading gate refuses the file."""
    try:
        return image_shape(path, min_side=1 if mask else MIN_SIDE), None
    except BadInputError as exc:
        return None, exc.problem


def _groups(paths: list[Path], root: Path) -> dict[Path, str]:
    """Group id per file: its stem, or its path below ``root`` without extension when stems repeat.

    (Özgenel's set, for example, has an unrelated ``00003.jpg`` in both class folders.)
    """
    stems = Counter(p.stem for p in paths)
    out = {}
    for p in paths:
        if stems[p.stem] == 1:
            out[p] = p.stem
        else:
            try:
                out[p] = p.relative_to(root).with_suffix("").as_posix()
            except ValueError:
                out[p] = p.with_suffix("").as_posix()
    return out


def _mask_index(mask_dir: Path | None) -> dict[str, list[Path]]:
    """Stem -> the mask files with that stem (more than one is an ambiguity, reported by ``_pair_masks``)."""
    if mask_dir is None:
        return {}
    index: dict[str, list[Path]] = {}
    for p in _image_files(mask_dir):
        index.setdefault(p.stem, []).append(p)
    return index


def _mask_candidates(mask_dir: Path, stem: str) -> dict[str, list[Path]]:
    """``_mask_index(mask_dir)`` restricted to the masks one image could have (names read, few files checked)."""
    wanted = {stem + suffix for suffix in _MASK_SUFFIXES}
    with os.scandir(mask_dir) as entries:
        names = sorted(e.name for e in entries if e.name.startswith(stem) and not e.name.startswith("."))
    index: dict[str, list[Path]] = {}
    for name in names:
        path = mask_dir / name
        if path.stem in wanted and is_image_file(path) and path.is_file():
            index.setdefault(path.stem, []).append(path)
    return index


def _match_mask(stem: str, index: dict[str, list[Path]]) -> list[Path]:
    """The masks of an image stem: those of the first name rule (``a``, ``a_mask``, ...) that has any."""
    for suffix in _MASK_SUFFIXES:
        if stem + suffix in index:
            return index[stem + suffix]
    return []


def _same_stem(paths: list[Path]) -> str:
    names = [p.name for p in paths]
    return ", ".join(names[:-1]) + f" and {names[-1]}"


def _pair_masks(
    images: list[Path], index: dict[str, list[Path]], skipped: list[tuple[Path, str]]
) -> tuple[dict[Path, Path | None], set[Path]]:
    """Each image's mask (None: no mask) and the masks claimed; ambiguous images go to ``skipped``.

    Ambiguous: two masks with the image's stem (``a.png`` and ``a.tif``), or one mask matched by two images
    (``a.png`` and ``a.jpg`` for ``masks/a.png``); each image concerned is skipped, the reason naming both.
    """
    matched = {path: _match_mask(path.stem, index) for path in images}
    claims: dict[Path, list[Path]] = {}
    for path, masks in matched.items():
        if len(masks) == 1:
            claims.setdefault(masks[0], []).append(path)
    pairs: dict[Path, Path | None] = {}
    used: set[Path] = set()
    for path, masks in matched.items():
        used.update(masks)
        if len(masks) > 1:
            skipped.append(
                (path, f"ambiguous mask: {_same_stem(masks)} in {masks[0].parent} have one name; keep one of them")
            )
        elif masks and len(claims[masks[0]]) > 1:
            skipped.append(
                (
                    path,
                    f"ambiguous image: {_same_stem(claims[masks[0]])} in {path.parent} match the same mask "
                    f"{masks[0]}; rename one of them",
                )
            )
        else:
            pairs[path] = masks[0] if masks else None
    return pairs, used


def find_mask_for(image_path: str | Path) -> Path | None:
    """The mask of an image that lives in an ``images/`` folder with a ``masks/`` sibling (same stem), or None.

    Nothing is cached between calls, so a folder that changed is never answered from an old listing; a call
    reads the names in the two folders and checks only the files that could be the mask. Two masks with the
    image's stem (``a.png`` and ``a.tif``) raise BadInputError naming both.
    """
    image_path = Path(image_path)
    if image_path.parent.name.lower() not in _IMAGE_DIRS:
        return None
    parent = image_path.parent.parent
    mask_dir = _find_child(parent, _MASK_DIRS) if parent.is_dir() else None
    if mask_dir is None:
        return None
    masks = _match_mask(image_path.stem, _mask_candidates(mask_dir, image_path.stem))
    if len(masks) > 1:
        raise BadInputError(image_path, f"ambiguous mask: {_same_stem(masks)} in {mask_dir} have one name; keep one")
    return masks[0] if masks else None


def _read_labels_csv(path: Path, skipped: list[tuple[Path, str]]) -> dict[str, int]:
    """``filename -> label`` from a labels.csv (``filename,class``); bad rows are reported in ``skipped``."""
    labels: dict[str, int] = {}
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            fields = {(f or "").strip().lower(): f for f in reader.fieldnames or []}
            if "filename" not in fields or "class" not in fields:
                skipped.append((path, f"needs the columns filename,class; has {', '.join(fields) or 'none'}"))
                return {}
            for lineno, row in enumerate(reader, start=2):
                name = (row.get(fields["filename"]) or "").strip()
                value = row.get(fields["class"]) or ""
                label = parse_class(value)
                if not name or label is None:
                    skipped.append((path, f"line {lineno}: unknown class {value!r} for {name!r}"))
                    continue
                labels[Path(name).as_posix()] = label
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        skipped.append((path, f"unreadable labels.csv ({exc})"))
    return labels


def _decode_problem(path: Path, *, mask: bool) -> str | None:
    try:
        if mask:
            read_mask(path)
        else:
            read_image(path)
    except BadInputError as exc:
        return exc.problem
    return None


def _check(path: Path, verify: bool, *, mask: bool = False) -> tuple[tuple[int, int] | None, str | None]:
    """(shape, problem) from the file header, or from a full decode with ``verify``."""
    shape, problem = _header(path, mask=mask)
    if problem is None and verify:
        problem = _decode_problem(path, mask=mask)
    return shape, problem


def _finish(
    root: Path,
    layout: str,
    entries: list[tuple[Path, int | None, Path | None]],
    skipped: list[tuple[Path, str]],
    verify: bool,
) -> Dataset:
    """Header-check (or with ``verify`` fully decode) every image and mask, attach groups, drop what is unusable."""
    groups = _groups([e[0] for e in entries], root)
    samples = []
    for path, label, mask_path in entries:
        shape, problem = _check(path, verify)
        if problem:
            skipped.append((path, problem))
            continue
        if mask_path is not None:
            mshape, mproblem = _check(mask_path, verify, mask=True)
            if mproblem:
                skipped.append((mask_path, mproblem))
                continue
            if mshape != shape:
                assert mshape is not None and shape is not None
                sizes = f"mask size {mshape[1]}x{mshape[0]} differs from its image size {shape[1]}x{shape[0]}"
                skipped.append((mask_path, f"{sizes} ({path.name})"))
                continue
        samples.append(Sample(path=path, label=label, mask_path=mask_path, group=groups[path], shape=shape))
    if not samples:
        detail = f" ({len(skipped)} files skipped, first: {skipped[0][0]}: {skipped[0][1]})" if skipped else ""
        raise BadInputError(root, f"no readable images in this {layout} dataset{detail}")
    return Dataset(root=root, layout=layout, samples=samples, skipped=skipped)


def _load_image_mask(root: Path, verify: bool) -> Dataset:
    image_dir = _find_child(root, _IMAGE_DIRS)
    mask_dir = _find_child(root, _MASK_DIRS)
    if image_dir is None or mask_dir is None:
        raise BadInputError(root, f"image-mask layout needs images/ and masks/ sub-folders; {EXPECTED}")
    skipped: list[tuple[Path, str]] = []
    index = _mask_index(mask_dir)
    pairs, used = _pair_masks(_image_files(image_dir), index, skipped)
    entries: list[tuple[Path, int | None, Path | None]] = []
    for path, mask in pairs.items():
        if mask is None:
            skipped.append((path, f"no mask with the same name in {mask_dir}"))
            continue
        entries.append((path, None, mask))
    for masks in index.values():
        skipped.extend((mask, f"mask without an image in {image_dir}") for mask in masks if mask not in used)
    if not entries:
        raise BadInputError(root, f"no image in {image_dir} has a mask in {mask_dir}; {EXPECTED}")
    return _finish(root, "image-mask", entries, skipped, verify)


def _load_class_folders(root: Path, verify: bool) -> Dataset:
    folders = _class_folders(root)
    if not folders:
        raise BadInputError(root, f"no class folders found; {EXPECTED}")
    entries: list[tuple[Path, int | None, Path | None]] = []
    for folder, label in folders:
        entries.extend((p, label, None) for p in _image_files(folder, recursive=True))
    if not entries:
        names = ", ".join(f.name for f, _ in folders)
        raise BadInputError(root, f"the class folders ({names}) hold no image files")
    return _finish(root, "class-folders", entries, [], verify)


def _load_filename_labels(root: Path, verify: bool) -> Dataset:
    skipped: list[tuple[Path, str]] = []
    image_dir = root if _image_files(root) else (_find_child(root, _IMAGE_DIRS) or root)
    files = _image_files(image_dir)
    if not files:
        raise BadInputError(root, f"no image files found in {image_dir}; {EXPECTED}")
    csv_path = next((p for p in (root / "labels.csv", image_dir / "labels.csv") if p.is_file()), None)
    listed = _read_labels_csv(csv_path, skipped) if csv_path else {}
    pairs, _ = _pair_masks(files, _mask_index(_find_child(root, _MASK_DIRS)), skipped)
    entries: list[tuple[Path, int | None, Path | None]] = []
    for path, mask in pairs.items():
        rel = path.relative_to(image_dir).as_posix()
        label = listed.get(rel, listed.get(path.name))
        if label is None:
            label = label_from_name(path.name)
        entries.append((path, label, mask))
    if csv_path is not None and listed:
        present = {p.relative_to(image_dir).as_posix() for p in files} | {p.name for p in files}
        for name in listed:
            if name not in present:
                skipped.append((image_dir / name, f"listed in {csv_path.name} but missing"))
    return _finish(root, "filename-labels", entries, skipped, verify)


_LOADERS = {
    "image-mask": _load_image_mask,
    "class-folders": _load_class_folders,
    "filename-labels": _load_filename_labels,
}


def load_dataset(root: str | Path, *, layout: str | None = None, verify: bool = False) -> Dataset:
    """Read a labelled dataset folder; ``layout`` overrides detection (one of ``LAYOUTS``).

    Every file's header is checked; ``verify=True`` decodes every image and mask fully, which also catches
    truncated files (slower). Unreadable files are skipped and listed in ``Dataset.skipped``; an empty
    folder, an unknown layout or a folder with no readable image raises BadInputError naming the folder.
    """
    root = Path(root)
    if layout is not None and layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    _check_root(root)
    return _LOADERS[layout or detect_layout(root)](root, verify)
