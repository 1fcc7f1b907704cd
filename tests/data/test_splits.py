"""Splits: grouped by photo, stratified by class, reproducible by seed, CSV round trip."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from crackscope.data.items import LabelledItem
from crackscope.data.splits import read_split_csv, split_counts, split_items, write_split_csv
from crackscope.errors import BadInputError


@dataclass(frozen=True)
class Item:
    key: str
    group: str
    label: int


def _whole(n_cracked: int, n_uncracked: int) -> list[Item]:
    return [Item(f"c{i}", f"c{i}", 1) for i in range(n_cracked)] + [
        Item(f"u{i}", f"u{i}", 0) for i in range(n_uncracked)
    ]


def _patches(n_photos: int = 40) -> list[Item]:
    """Photos with 1..9 patches each and mixed labels, like patches cut from segmentation photos."""
    items = []
    for p in range(n_photos):
        n = 1 + (p * 7) % 9
        for j in range(n):
            items.append(Item(f"photo{p}#{j}", f"photo{p}", int((p + j) % 3 == 0)))
    return items


def _groups_by_split(splits) -> dict[str, set[str]]:
    return {name: {i.group for i in members} for name, members in splits.items()}


def test_whole_images_exact_stratified_counts() -> None:
    splits = split_items(_whole(60, 40), seed=3)
    assert split_counts(splits) == {
        "train": {"cracked": 42, "uncracked": 28, "groups": 70},
        "val": {"cracked": 9, "uncracked": 6, "groups": 15},
        "test": {"cracked": 9, "uncracked": 6, "groups": 15},
    }


def test_patches_of_a_photo_never_in_two_splits() -> None:
    items = _patches()
    splits = split_items(items, seed=0)
    groups = _groups_by_split(splits)
    assert not groups["train"] & groups["val"] and not groups["train"] & groups["test"]
    assert not groups["val"] & groups["test"]
    assert sorted(i.key for m in splits.values() for i in m) == sorted(i.key for i in items)  # nothing lost
    # class balance per split: each split's share of every class within 5 points of its target
    totals = Counter(i.label for i in items)
    for name, fraction in (("train", 0.7), ("val", 0.15), ("test", 0.15)):
        got = Counter(i.label for i in splits[name])
        for label in (0, 1):
            assert abs(got[label] / totals[label] - fraction) < 0.05, (name, label, got)


def test_same_seed_same_split_other_seed_other_split() -> None:
    items = _patches()
    keys = lambda s: {name: [i.key for i in m] for name, m in s.items()}  # noqa: E731
    assert keys(split_items(items, seed=5)) == keys(split_items(list(items), seed=5))
    assert keys(split_items(items, seed=5)) != keys(split_items(items, seed=6))


def test_items_keep_input_order_and_fractions_are_checked() -> None:
    items = _whole(10, 10)
    splits = split_items(items, fractions=(0.5, 0.5, 0.0), seed=1)
    assert splits["test"] == []
    order = {i.key: n for n, i in enumerate(items)}
    assert [order[i.key] for i in splits["train"]] == sorted(order[i.key] for i in splits["train"])
    for bad in ((0.5, 0.5), (0.7, 0.2, 0.2), (0.0, 0.5, 0.5), (1.2, -0.1, -0.1)):
        with pytest.raises(ValueError, match="fractions"):
            split_items(items, fractions=bad)
    assert split_items([], seed=0) == {"train": [], "val": [], "test": []}


def test_csv_round_trip_with_and_without_items(tmp_path: Path) -> None:
    items = [
        LabelledItem(
            f"/d/images/p{i}.png#0,{j * 4},4,4",
            f"p{i}",
            (i + j) % 2,
            Path(f"/d/images/p{i}.png"),
            (0, j * 4, 4, 4),
            Path(f"/d/masks/p{i}.png"),
        )
        for i in range(10)
        for j in range(2)
    ]
    splits = split_items(items, seed=0)
    path = write_split_csv(tmp_path / "split.csv", splits)
    lines = path.read_text().splitlines()
    assert lines[0] == "key,group,label,split" and len(lines) == 21
    assert read_split_csv(path, items=items) == splits  # same item objects, masks kept
    rebuilt = read_split_csv(path)
    assert {n: [i.key for i in m] for n, m in rebuilt.items()} == {n: [i.key for i in m] for n, m in splits.items()}
    assert rebuilt["train"][0].box == splits["train"][0].box and rebuilt["train"][0].mask_path is None


def test_bad_split_files(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="split file not found"):
        read_split_csv(tmp_path / "none.csv")
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("a,b\n1,2\n")
    with pytest.raises(BadInputError, match=r"wrong.csv: not a split file"):
        read_split_csv(wrong)
    bad_label = tmp_path / "label.csv"
    bad_label.write_text("key,group,label,split\nx,x,cracked,train\n")
    with pytest.raises(BadInputError, match="line 2: label 'cracked'"):
        read_split_csv(bad_label)
    moved = tmp_path / "moved.csv"
    moved.write_text("key,group,label,split\n/old/a.png,a,1,train\n")
    with pytest.raises(BadInputError, match=r"1 item.* not found in the dataset.*first: /old/a.png"):
        read_split_csv(moved, items=[Item("/new/a.png", "a", 1)])


def test_rebuilt_items_find_their_masks_again(synth_dir: Path, tmp_path: Path) -> None:
    from crackscope.data.items import dataset_items

    items = dataset_items(synth_dir)
    path = write_split_csv(tmp_path / "split.csv", split_items(items, seed=0))
    rebuilt = [i for m in read_split_csv(path).values() for i in m]
    original = {i.key: i for i in items}
    assert len(rebuilt) == len(items)
    for item in rebuilt:
        assert item.mask_path == original[item.key].mask_path and item.label == original[item.key].label


def test_crops_of_one_photo_land_in_one_split() -> None:
    from crackscope.data.splits import source_photo

    assert [source_photo(g) for g in ("train_11116-3", "7001-12", "IMG_6536", "a-b", "-4", "x-1-2")] == [
        "train_11116",
        "7001",
        "IMG_6536",
        "a-b",
        "-4",
        "x-1",
    ]
    # 30 photos of 4 crops each (DeepCrack's naming): every photo's crops share a split, for any seed
    items = [Item(f"p{p}-{c}#0", f"p{p}-{c}", (p + c) % 2) for p in range(30) for c in range(1, 5)]
    for seed in range(5):
        splits = split_items(items, seed=seed)
        where = {}
        for name, members in splits.items():
            for item in members:
                where.setdefault(item.group.rsplit("-", 1)[0], set()).add(name)
        assert all(len(names) == 1 for names in where.values())
        assert sum(len(m) for m in splits.values()) == len(items)


# --- several data sources -------------------------------------------------------------------------


@dataclass(frozen=True)
class SourcedItem:
    key: str
    group: str
    label: int
    source: str


def _two_sources() -> list[SourcedItem]:
    """A large source 'big' (photos of 1..9 patches) and a small one 'small' (20 whole images), interleaved;
    both use the photo names p0, p1, ... so a name is shared by the two sources."""
    big = [
        SourcedItem(f"big/p{p}#{j}", f"p{p}", int((p + j) % 3 == 0), "big")
        for p in range(40)
        for j in range(1 + (p * 7) % 9)
    ]
    small = [SourcedItem(f"small/p{i}", f"p{i}", i % 2, "small") for i in range(20)]
    mixed = []
    for i in range(max(len(big), len(small))):
        mixed += big[i : i + 1] + small[i : i + 1]
    return mixed


def test_each_source_is_split_on_its_own_and_combined_in_input_order() -> None:
    items = _two_sources()
    splits = split_items(items, seed=4)
    for source in ("big", "small"):
        own = split_items([i for i in items if i.source == source], seed=4)
        assert {n: [i for i in m if i.source == source] for n, m in splits.items()} == own
    order = {i.key: n for n, i in enumerate(items)}
    for members in splits.values():
        assert [order[i.key] for i in members] == sorted(order[i.key] for i in members)
    # the small source keeps its own fractions: of 10 + 10 whole images, 7 + 7 train, 1 or 2 of each class
    # in val and in test (targets 1.5)
    counts = split_counts({n: [i for i in m if i.source == "small"] for n, m in splits.items()})
    assert (counts["train"]["cracked"], counts["train"]["uncracked"]) == (7, 7)
    assert all(counts[n][c] in (1, 2) for n in ("val", "test") for c in ("cracked", "uncracked"))


def test_groups_are_per_source() -> None:
    items = _two_sources()
    splits = split_items(items, seed=0)
    where: dict[tuple[str, str], set[str]] = {}
    for name, members in splits.items():
        for item in members:
            where.setdefault((item.source, item.group), set()).add(name)
    assert all(len(names) == 1 for names in where.values())  # a photo never spans two splits in its source
    # the same photo name in two sources is two photos: some land in different splits
    assert any(where[("big", f"p{i}")] != where[("small", f"p{i}")] for i in range(20))
    # split_counts counts a group per source
    total_groups = sum(c["groups"] for c in split_counts(splits).values())
    assert total_groups == 40 + 20


def test_csv_keeps_the_source_column(tmp_path: Path) -> None:
    items = [
        LabelledItem(f"/d/{s}/p{i}.png", f"p{i}", i % 2, Path(f"/d/{s}/p{i}.png"), source=s)
        for s in ("a", "b")
        for i in range(6)
    ]
    splits = split_items(items, seed=0)
    path = write_split_csv(tmp_path / "split.csv", splits)
    lines = path.read_text().splitlines()
    assert lines[0] == "key,group,label,split,source" and all(line.endswith((",a", ",b")) for line in lines[1:])
    assert read_split_csv(path, items=items) == splits
    rebuilt = read_split_csv(path)
    assert {n: [(i.key, i.source) for i in m] for n, m in rebuilt.items()} == {
        n: [(i.key, i.source) for i in m] for n, m in splits.items()
    }
