"""Several data sources: the spec (folders or a TOML/JSON file), items labelled by source, leave-one-out."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from crackscope.data.items import PhotoCache
from crackscope.data.sources import DataSource, leave_one_source_out, read_sources, source_items
from crackscope.errors import BadInputError
from tests.data.helpers import make_folders, write_image


def _folders(root: Path, *names: str) -> list[Path]:
    out = []
    for name in names:
        (root / name).mkdir(parents=True)
        out.append(root / name)
    return out


# --- DataSource -----------------------------------------------------------------------------------


def test_data_source_checks_its_fields_and_round_trips() -> None:
    source = DataSource("data/decks", "decks", weight=2)  # type: ignore[arg-type]
    assert source.path == Path("data/decks") and source.weight == 2.0 and isinstance(source.weight, float)
    assert DataSource.from_dict(source.to_dict()) == source
    assert DataSource.from_dict({"path": "x", "name": "x"}) == DataSource(Path("x"), "x")
    for bad in (0, -1.0, float("nan"), float("inf"), True, "2"):
        with pytest.raises(ValueError, match="weight must be a finite number > 0"):
            DataSource(Path("x"), "x", weight=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="name must be a non-empty string"):
        DataSource(Path("x"), " ")
    with pytest.raises(ValueError, match="layout must be one of"):
        DataSource(Path("x"), "x", layout="folders")
    with pytest.raises(ValueError, match="unknown key"):
        DataSource.from_dict({"path": "x", "name": "x", "wieght": 2})


# --- read_sources: folders ------------------------------------------------------------------------


def test_folders_are_named_after_themselves_and_repeated_names_numbered(tmp_path: Path) -> None:
    a, b = _folders(tmp_path, "one/train", "two/train")
    (c,) = _folders(tmp_path, "walls")
    sources = read_sources([a, str(b), c], layout="class-folders")
    assert [(s.name, s.path, s.weight, s.layout) for s in sources] == [
        ("train", a, 1.0, "class-folders"),
        ("train-2", b, 1.0, "class-folders"),
        ("walls", c, 1.0, "class-folders"),
    ]
    assert read_sources(c) == (DataSource(c, "walls"),)  # one folder alone, layout left to detection
    given = DataSource(a, "walls", weight=3.0)  # a name given wins; the folder named walls is numbered
    assert [s.name for s in read_sources([given, c])] == ["walls", "walls-2"]


def test_folder_problems_name_the_folder(tmp_path: Path) -> None:
    a, inner = _folders(tmp_path, "a", "a/inner")
    with pytest.raises(BadInputError, match=r"missing: no such folder"):
        read_sources([a, tmp_path / "missing"])
    with pytest.raises(BadInputError, match="listed twice"):
        read_sources([a, tmp_path / "a" / ".." / "a"])
    with pytest.raises(BadInputError, match="overlap: one folder is inside the other"):
        read_sources([a, inner])
    photo = tmp_path / "photo.png"
    photo.write_bytes(b"x")
    with pytest.raises(BadInputError, match=r"photo.png: is a file, not a dataset folder \(nor a sources file"):
        read_sources(photo)
    with pytest.raises(ValueError, match="no data sources given"):
        read_sources([])
    with pytest.raises(ValueError, match="unknown layout"):
        read_sources(a, layout="folders")


# --- read_sources: a sources file -----------------------------------------------------------------


def test_toml_file_with_weights_layouts_and_relative_paths(tmp_path: Path) -> None:
    _folders(tmp_path, "data/ozgenel", "data/deepcrack")
    spec = tmp_path / "data" / "sources.toml"
    spec.write_text(
        '[[sources]]\npath = "ozgenel"\nweight = 2\n\n'
        '[[sources]]\npath = "deepcrack"\nname = "dc"\nweight = 0.5\nlayout = "image-mask"\n'
    )
    sources = read_sources(spec, layout="class-folders")
    assert sources == (
        DataSource(tmp_path / "data" / "ozgenel", "ozgenel", 2.0, "class-folders"),
        DataSource(tmp_path / "data" / "deepcrack", "dc", 0.5, "image-mask"),
    )


def test_json_file_as_object_or_list_with_plain_paths(tmp_path: Path) -> None:
    a, b = _folders(tmp_path, "a", "b")
    spec = tmp_path / "sources.json"
    spec.write_text(json.dumps({"sources": ["a", {"path": str(b), "weight": 3}]}))
    assert read_sources(spec) == (DataSource(a, "a"), DataSource(b, "b", 3.0))
    spec.write_text(json.dumps(["b"]))
    assert read_sources(str(spec)) == (DataSource(b, "b"),)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('[[sources]]\npath = "a"\nwieght = 2\n', r"source 1: unknown key\(s\) wieght"),
        ('[[sources]]\npath = "a"\nweight = 0\n', r"source 1 \(a\): weight must be a finite number > 0"),
        ('[[sources]]\npath = "a"\nweight = "heavy"\n', "weight must be a finite number > 0"),
        ('[[sources]]\npath = "a"\nlayout = "folders"\n', "source 1: layout must be one of"),
        ('[[sources]]\nname = "a"\n', "source 1: needs a path"),
        ('[[sources]]\npath = "a"\n\n[[sources]]\npath = "nope"\n', "source 'nope': no such folder"),
        ('[[sources]]\npath = "a"\nname = "x"\n\n[[sources]]\npath = "b"\nname = "x"\n', "two sources are named 'x'"),
        ("sources = []\n", "lists no sources"),
        ('folders = ["a"]\n', r"unknown key\(s\) folders"),
        ("[[sources]\n", "not valid TOML"),
        ("sources = [1]\n", "source 1: must be a path or a table"),
    ],
)
def test_bad_sources_files_name_the_file_and_the_problem(tmp_path: Path, text: str, problem: str) -> None:
    _folders(tmp_path, "a", "b")
    spec = tmp_path / "sources.toml"
    spec.write_text(text)
    with pytest.raises(BadInputError, match=r"sources\.toml: .*" + problem):
        read_sources(spec)


def test_yaml_json_errors_and_a_file_among_folders(tmp_path: Path) -> None:
    (a,) = _folders(tmp_path, "a")
    yaml = tmp_path / "sources.yaml"
    yaml.write_text("sources:\n  - a\n")
    with pytest.raises(BadInputError, match=r"sources.yaml: YAML sources files are not read.*TOML or JSON"):
        read_sources(yaml)
    broken = tmp_path / "sources.json"
    broken.write_text("{")
    with pytest.raises(BadInputError, match=r"sources.json: not valid JSON"):
        read_sources(broken)
    with pytest.raises(ValueError, match="must be given alone"):
        read_sources([a, broken])
    with pytest.raises(BadInputError, match=r"other.toml: no such sources file"):
        read_sources(tmp_path / "other.toml")


# --- items of several sources ---------------------------------------------------------------------


def test_class_folders_and_image_mask_set_give_labelled_items_of_each_source(tmp_path: Path, synth_dir: Path) -> None:
    walls = make_folders(tmp_path / "walls", {"cracked": 2, "uncracked": 3})
    sources = read_sources([walls, synth_dir])
    assert [s.name for s in sources] == ["walls", "set"]
    cache = PhotoCache()
    items = source_items(sources, patch_size=32, stride=32, photo_cache=cache)
    by_source = items.counts_by_source()
    assert by_source["walls"] == {"cracked": 2, "uncracked": 3}
    assert [item.source for item in items[:5]] == ["walls"] * 5 and all(i.box is None for i in items[:5])
    patches = items[5:]
    assert patches and {i.source for i in patches} == {"set"}
    assert all(i.box is not None and i.box[2:] == (32, 32) and i.mask_path is not None for i in patches)
    assert all(i.photo_cache is cache for i in patches)
    # each patch's label follows its mask crop by the labelling rule of the set
    rule = items.parts["set"].settings
    assert rule["patch_size"] == 32 and items.parts["walls"].settings == {}
    for item in patches[:8]:
        crack_pixels = int(item.load_mask().sum())
        assert item.label == int(crack_pixels >= rule["min_crack_pixels"]) and item.load().shape == (32, 32, 3)
    assert set(by_source["set"].values()) != {0}  # both classes among the patches
    assert items.counts() == {k: by_source["walls"][k] + by_source["set"][k] for k in ("cracked", "uncracked")} and len(
        items
    ) == 5 + sum(by_source["set"].values())
    assert items.weights == {"walls": 1.0, "set": 1.0}
    assert items.dropped == items.parts["set"].dropped


def test_a_source_without_labelled_items_is_refused(tmp_path: Path) -> None:
    good = make_folders(tmp_path / "good", {"cracked": 1, "uncracked": 1})
    seg = tmp_path / "seg"
    write_image(seg / "images" / "a.png", np.zeros((16, 16, 3), np.uint8))
    write_image(seg / "masks" / "a.png", np.zeros((16, 16), np.uint8))
    with pytest.raises(BadInputError, match=r"seg: source 'seg' gives no labelled samples"):
        source_items(read_sources([good, seg]), patch_size=32)  # the 16 px photo is smaller than the patch
    with pytest.raises(ValueError, match="source names must differ"):
        source_items([DataSource(good, "x"), DataSource(seg, "x")])


# --- leave one source out -------------------------------------------------------------------------


def test_leave_one_source_out_pairs() -> None:
    a, b, c = (DataSource(Path(n), n) for n in "abc")
    assert list(leave_one_source_out([a, b, c])) == [((b, c), a), ((a, c), b), ((a, b), c)]
    assert list(leave_one_source_out((a, b))) == [((b,), a), ((a,), b)]
    with pytest.raises(ValueError, match="at least two sources"):
        list(leave_one_source_out([a]))
    with pytest.raises(ValueError, match="names must differ"):
        list(leave_one_source_out([a, DataSource(Path("elsewhere"), "a")]))
