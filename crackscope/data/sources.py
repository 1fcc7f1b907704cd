"""Several data sources in one run: which folders, what each is called, how much each weighs.

A *data source* is one dataset folder in any layout ``crackscope.data.layouts`` understands (class folders,
file-name labels, image + mask sets), with a name (reported in per-source metrics and in the split CSV) and
a sampling weight. ``read_sources`` takes either several folders or one small sources file:

TOML (``sources.toml``)::

    [[sources]]
    path = "ozgenel-10k"          # relative to the folder of this file
    name = "ozgenel"              # default: the folder's name
    weight = 1.0                  # default 1.0; balanced sampling draws a source in proportion to it

    [[sources]]
    path = "deepcrack-train"
    layout = "image-mask"         # default: detected

JSON (``sources.json``): ``{"sources": [{"path": "ozgenel-10k", "weight": 2}, "deepcrack-train"]}`` or the
bare list. An entry may be a plain path string. YAML is not read: crackscope does not depend on PyYAML, so a
``.yaml``/``.yml`` file is refused with a message that says to write TOML or JSON.

``source_items`` reads every source (``dataset_items``: image + mask sets become labelled patches) and labels
each item with its source's name; ``crackscope.data.splits.split_items`` then splits within each source.
``leave_one_source_out`` lists the (trained sources, held-out source) pairs of a leave-one-source-out study.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from crackscope.data.items import DEFAULT_MARGIN, ItemList, LabelledItem, PhotoCache, dataset_items
from crackscope.data.layouts import LAYOUTS
from crackscope.errors import BadInputError

SOURCE_FILE_SUFFIXES = (".toml", ".json")
_YAML_SUFFIXES = (".yaml", ".yml")
_ENTRY_KEYS = ("path", "name", "weight", "layout")


@dataclass(frozen=True)
class DataSource:
    """One dataset folder of a run: where it is, its name, its sampling weight, its layout (None: detected).

    Raises
    ------
    ValueError
        Naming the field: an empty ``name``, a ``weight`` that is not a finite number > 0, or a ``layout``
        that is not one of ``crackscope.data.layouts.LAYOUTS``.

    Examples
    --------
    >>> DataSource(Path("data/decks"), "decks", weight=2.0).to_dict()
    {'path': 'data/decks', 'name': 'decks', 'weight': 2.0, 'layout': None}
    """

    path: Path
    name: str
    weight: float = 1.0
    layout: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.path, Path):
            object.__setattr__(self, "path", Path(self.path))
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"name must be a non-empty string, got {self.name!r}")
        weight = self.weight
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not math.isfinite(weight) or weight <= 0:
            raise ValueError(f"weight must be a finite number > 0, got {weight!r}")
        object.__setattr__(self, "weight", float(weight))
        if self.layout is not None and self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(LAYOUTS)} (or left out), got {self.layout!r}")

    def to_dict(self) -> dict[str, object]:
        """The source as JSON-able values (what ``config.json`` records; ``from_dict`` reads it back)."""
        return {"path": str(self.path), "name": self.name, "weight": self.weight, "layout": self.layout}

    @classmethod
    def from_dict(cls, values: Mapping[str, object]) -> DataSource:
        """A source from ``to_dict``'s values.

        Raises
        ------
        ValueError
            If a key is unknown, ``path`` or ``name`` is missing, or a value is invalid.
        """
        unknown = sorted(set(values) - set(_ENTRY_KEYS))
        if unknown:
            raise ValueError(f"unknown key(s) {', '.join(unknown)}; a source has {', '.join(_ENTRY_KEYS)}")
        path, name = values.get("path"), values.get("name")
        if not isinstance(path, str) or not path:
            raise ValueError(f"path must be a non-empty string, got {path!r}")
        if not isinstance(name, str):
            raise ValueError(f"name must be a non-empty string, got {name!r}")
        layout = values.get("layout")
        if layout is not None and not isinstance(layout, str):
            raise ValueError(f"layout must be one of {', '.join(LAYOUTS)} (or left out), got {layout!r}")
        weight = values.get("weight", 1.0)
        return cls(Path(path), name, weight, layout)  # type: ignore[arg-type]  # checked in __post_init__


def _entry(value: object, base: Path) -> tuple[Path, str | None, object, str | None]:
    """(path, name or None, weight, layout) of one entry of a sources file; relative paths from ``base``.

    Raises ValueError saying what is wrong with the entry.
    """
    if isinstance(value, str):
        value = {"path": value}
    if not isinstance(value, Mapping):
        raise ValueError(f"must be a path or a table with {', '.join(_ENTRY_KEYS)}, got {value!r}")
    unknown = sorted(str(k) for k in value if k not in _ENTRY_KEYS)
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(unknown)}; a source has {', '.join(_ENTRY_KEYS)}")
    path = value.get("path")
    if not isinstance(path, str) or not path.strip():
        raise ValueError("needs a path (a non-empty string)")
    name = value.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    layout = value.get("layout")
    if layout is not None and layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)} (or left out), got {layout!r}")
    full = Path(path).expanduser()
    return (full if full.is_absolute() else base / full), name, value.get("weight", 1.0), layout


def _parse_file(path: Path) -> list[object]:
    """The entries of a TOML or JSON sources file. Raises BadInputError naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInputError(path, f"unreadable sources file ({exc})") from None
    document: object
    try:
        document = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BadInputError(path, f"not valid TOML ({exc})") from None
    except json.JSONDecodeError as exc:
        raise BadInputError(path, f"not valid JSON ({exc})") from None
    if isinstance(document, dict):
        others = sorted(k for k in document if k != "sources")
        if others:
            raise BadInputError(path, f"unknown key(s) {', '.join(others)}; a sources file has one list, 'sources'")
        document = document.get("sources")
    if not isinstance(document, list):
        raise BadInputError(path, "needs a list 'sources' ([[sources]] tables in TOML)")
    if not document:
        raise BadInputError(path, "lists no sources")
    return list(document)


def _unique_names(wanted: list[str | None], paths: list[Path]) -> list[str]:
    """Given names as they are; the others the folder's name, numbered (``name-2``...) when taken."""
    taken = {n for n in wanted if n is not None}
    names = []
    for name, path in zip(wanted, paths, strict=True):
        if name is None:
            base = path.resolve().name or "source"
            name, n = base, 1
            while name in taken:
                n += 1
                name = f"{base}-{n}"
            taken.add(name)
        names.append(name)
    return names


def _check_folders(sources: list[DataSource], where: Path | None) -> None:
    """Every source an existing folder, listed once, none inside another; names unique.

    Raises BadInputError naming the sources file (``where``) or the folder.
    """
    seen: dict[str, DataSource] = {}
    resolved: list[tuple[Path, DataSource]] = []
    for source in sources:
        path = source.path
        if not path.is_dir():
            if where is None:  # a folder given directly: the error names it
                problem = "no such folder" if not path.exists() else "is a file, not a dataset folder"
                raise BadInputError(path, f"{problem} (nor a sources file: .toml or .json)")
            problem = f"no such folder {path}" if not path.exists() else f"{path} is a file, not a dataset folder"
            raise BadInputError(where, f"source {source.name!r}: {problem}")
        if source.name in seen:
            raise BadInputError(where or path, f"two sources are named {source.name!r}; names must differ")
        seen[source.name] = source
        real = path.resolve()
        for other_path, other in resolved:
            if real == other_path:
                raise BadInputError(where or path, f"{path} is listed twice (sources {other.name!r}, {source.name!r})")
            if real.is_relative_to(other_path) or other_path.is_relative_to(real):
                raise BadInputError(
                    where or path,
                    f"sources {other.name!r} ({other.path}) and {source.name!r} ({path}) overlap: one folder is "
                    "inside the other, so its images would be read twice",
                )
        resolved.append((real, source))


def _from_file(path: Path, layout: str | None) -> tuple[DataSource, ...]:
    suffix = path.suffix.lower()
    if suffix in _YAML_SUFFIXES:
        raise BadInputError(
            path, "YAML sources files are not read (crackscope does not depend on PyYAML); write it as TOML or JSON"
        )
    if not path.is_file():
        raise BadInputError(path, "no such sources file")
    entries = []
    for number, value in enumerate(_parse_file(path), 1):
        try:
            entries.append(_entry(value, path.parent))
        except ValueError as exc:
            raise BadInputError(path, f"source {number}: {exc}") from None
    names = _unique_names([name for _, name, _, _ in entries], [p for p, _, _, _ in entries])
    sources = []
    for number, ((folder, _, weight, own_layout), name) in enumerate(zip(entries, names, strict=True), 1):
        try:
            sources.append(DataSource(folder, name, weight, own_layout or layout))  # type: ignore[arg-type]
        except ValueError as exc:
            raise BadInputError(path, f"source {number} ({name}): {exc}") from None
    _check_folders(sources, path)
    return tuple(sources)


def _is_sources_file(value: str | Path) -> bool:
    path = Path(value)
    return path.suffix.lower() in (*SOURCE_FILE_SUFFIXES, *_YAML_SUFFIXES) and not path.is_dir()


def read_sources(
    spec: str | Path | DataSource | Sequence[str | Path | DataSource], *, layout: str | None = None
) -> tuple[DataSource, ...]:
    """The data sources of a run: from folders (each named after itself, weight 1), ``DataSource`` values, or
    one ``.toml``/``.json`` sources file (format in the module doc; its relative paths are read from the
    file's folder).

    ``layout`` is the layout of the sources that do not name one (None: each is detected when it is read).
    Folder names that repeat are numbered (``train``, ``train-2``).

    Raises
    ------
    BadInputError
        Naming the sources file (or the folder): a missing folder, a file that is neither folder nor sources
        file, a YAML file, invalid TOML/JSON, an unknown key, a bad weight or layout, no sources listed, two
        sources with one name, a folder listed twice or inside another source.
    ValueError
        If no source is given, a sources file is given with other entries, or ``layout`` is unknown.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> for name in ("walls", "decks"):
    ...     (root / name).mkdir()
    >>> text = '[[sources]]\\npath = "walls"\\nweight = 2\\n\\n[[sources]]\\npath = "decks"\\n'
    >>> _ = (root / "sources.toml").write_text(text)
    >>> [(s.name, s.weight) for s in read_sources(root / "sources.toml")]
    [('walls', 2.0), ('decks', 1.0)]
    """
    if layout is not None and layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    entries: list[str | Path | DataSource] = (
        [spec] if isinstance(spec, str | Path | DataSource) else list(spec)  # a str is a Sequence too
    )
    if not entries:
        raise ValueError("no data sources given")
    files = [Path(e) for e in entries if not isinstance(e, DataSource) and _is_sources_file(e)]
    if files:
        if len(entries) > 1:
            raise ValueError(f"a sources file ({files[0]}) must be given alone, not with other folders or files")
        return _from_file(files[0], layout)
    wanted = [e.name if isinstance(e, DataSource) else None for e in entries]
    paths = [e.path if isinstance(e, DataSource) else Path(e) for e in entries]
    sources = [
        e if isinstance(e, DataSource) else DataSource(path, name, 1.0, layout)
        for e, path, name in zip(entries, paths, _unique_names(wanted, paths), strict=True)
    ]
    _check_folders(sources, None)
    return tuple(sources)


def leave_one_source_out(
    sources: Sequence[DataSource],
) -> Iterator[tuple[tuple[DataSource, ...], DataSource]]:
    """(trained sources, held-out source) for each source in turn, the trained ones in their given order.

    Raises
    ------
    ValueError
        If fewer than two sources are given (nothing would be left to train on), or two share a name.

    Examples
    --------
    >>> a, b, c = (DataSource(Path(n), n) for n in "abc")
    >>> [([s.name for s in train], held.name) for train, held in leave_one_source_out([a, b, c])]
    [(['b', 'c'], 'a'), (['a', 'c'], 'b'), (['a', 'b'], 'c')]
    """
    sources = tuple(sources)
    if len(sources) < 2:
        raise ValueError(f"leave-one-source-out needs at least two sources, got {len(sources)}")
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise ValueError(f"source names must differ, got {names}")
    for i, held in enumerate(sources):
        yield sources[:i] + sources[i + 1 :], held


class SourceItems(list[LabelledItem]):
    """The items of several sources, each labelled with its source's name (``LabelledItem.source``), in
    source order; ``parts`` holds each source's own ``ItemList`` (its dataset, patch settings, skipped files),
    ``skipped`` every file left out (all sources), ``dropped`` the ambiguous patches of all sources."""

    def __init__(self, sources: Sequence[DataSource], parts: Mapping[str, ItemList]) -> None:
        self.sources = tuple(sources)
        self.parts = dict(parts)
        super().__init__(item for part in self.parts.values() for item in part)
        self.skipped: list[tuple[Path, str]] = [entry for part in self.parts.values() for entry in part.skipped]
        self.dropped = sum(part.dropped for part in self.parts.values())

    @property
    def weights(self) -> dict[str, float]:
        """Sampling weight per source name."""
        return {s.name: s.weight for s in self.sources}

    def counts(self) -> dict[str, int]:
        """Items per class name, all sources together."""
        cracked = sum(1 for item in self if item.label == 1)
        return {"cracked": cracked, "uncracked": len(self) - cracked}

    def counts_by_source(self) -> dict[str, dict[str, int]]:
        """Items per class name of each source."""
        return {name: part.counts() for name, part in self.parts.items()}


def source_items(
    sources: Sequence[DataSource],
    *,
    patch_size: int | None = None,
    stride: int | None = None,
    min_crack_pixels: int | None = None,
    margin: int = DEFAULT_MARGIN,
    photo_cache: PhotoCache | None = None,
) -> SourceItems:
    """The labelled items of every source (``dataset_items`` of each, in its layout), labelled with the
    source's name.

    The patch options apply to every image + mask source (None: chosen per source from its own photos, see
    ``crackscope.data.items``); the patch items of all sources decode through one ``photo_cache`` (None: one
    made here, also found on each part's ``photo_cache``).

    Raises
    ------
    BadInputError
        If a source folder cannot be read as a dataset, or gives no labelled item (naming its folder).
    ValueError
        If no source is given, two share a name, or a patch option is invalid.
    """
    sources = tuple(sources)
    if not sources:
        raise ValueError("no data sources given")
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise ValueError(f"source names must differ, got {names}")
    cache = PhotoCache() if photo_cache is None else photo_cache
    parts: dict[str, ItemList] = {}
    for source in sources:
        found = dataset_items(
            source.path,
            layout=source.layout,
            patch_size=patch_size,
            stride=stride,
            min_crack_pixels=min_crack_pixels,
            margin=margin,
            photo_cache=cache,
        )
        if not found:
            raise BadInputError(source.path, f"source {source.name!r} gives no labelled samples")
        labelled = ItemList((item.with_source(source.name) for item in found), dataset=found.dataset)
        labelled.photo_cache, labelled.dropped, labelled.settings = found.photo_cache, found.dropped, found.settings
        labelled.skipped = list(found.skipped)
        parts[source.name] = labelled
    return SourceItems(sources, parts)
