"""Scoring on tiny arrays with hand-computed answers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from crackscope.evaluation.map_scores import count_curve, count_mask, ods_ois, score_dirs, score_masks
from crackscope.io import write_image_atomic


def _line(shape=(8, 8), col=3, rows=range(1, 6)):
    m = np.zeros(shape, bool)
    m[list(rows), col] = True
    return m


def test_perfect_prediction():
    gt = _line()
    s = score_masks([gt], [gt])
    assert (s["precision"], s["recall"], s["f1"], s["iou"]) == (1.0, 1.0, 1.0, 1.0)


def test_empty_prediction():
    gt = _line()
    s = score_masks([np.zeros_like(gt)], [gt])
    # nothing predicted: precision 0/0 -> 1 by convention, recall 0, F1 0, IoU 0/5
    assert s["precision"] == 1.0 and s["recall"] == 0.0 and s["f1"] == 0.0 and s["iou"] == 0.0


def test_empty_ground_truth():
    pred = np.zeros((4, 4), bool)
    pred[0, :2] = True
    s = score_masks([pred], [np.zeros((4, 4), bool)])
    assert s["precision"] == 0.0 and s["recall"] == 1.0 and s["f1"] == 0.0 and s["iou"] == 0.0
    both_empty = score_masks([np.zeros((4, 4), bool)], [np.zeros((4, 4), bool)])
    assert both_empty["f1"] == 1.0 and both_empty["iou"] == 1.0


def test_one_pixel_shift_forgiven_by_tolerance_one():
    gt, pred = _line(col=3), _line(col=4)
    exact = score_masks([pred], [gt])
    assert exact["f1"] == 0.0 and exact["iou"] == 0.0
    tol1 = score_masks([pred], [gt], tol=1)
    assert (tol1["precision"], tol1["recall"], tol1["f1"], tol1["iou"]) == (1.0, 1.0, 1.0, 1.0)


def test_diagonal_shift_needs_tolerance_above_sqrt2():
    gt = np.zeros((6, 6), bool)
    gt[2, 2] = True
    pred = np.zeros((6, 6), bool)
    pred[3, 3] = True
    assert count_mask(pred, gt, tol=1).tp_pred == 0
    assert count_mask(pred, gt, tol=1.5).tp_pred == 1


def test_partial_overlap_and_pooling():
    gt = np.zeros((4, 8), bool)
    gt[2, 1:5] = True  # 4 px
    pred = np.zeros((4, 8), bool)
    pred[2, 3:7] = True  # 4 px, 2 shared
    s = score_masks([pred], [gt])
    assert s["precision"] == pytest.approx(0.5) and s["recall"] == pytest.approx(0.5)
    assert s["f1"] == pytest.approx(0.5) and s["iou"] == pytest.approx(2 / 6)
    # pooled over two images: second is perfect with 4 px -> tp 6 of 8 predicted, 6 of 8 GT
    pooled = score_masks([pred, gt], [gt, gt])
    assert pooled["precision"] == pytest.approx(6 / 8) and pooled["iou"] == pytest.approx(6 / 10)
    # tolerance 2: pred cols 5, 6 lie within 2 px of GT col 4; GT cols 1, 2 within 2 px of pred col 3
    t2 = count_mask(pred, gt, tol=2)
    assert (t2.tp_pred, t2.tp_gt) == (4, 4)
    t1 = count_mask(pred, gt, tol=1)
    assert (t1.tp_pred, t1.tp_gt) == (3, 3)
    assert t1.iou == pytest.approx(3 / (4 + 4 - 3))


def test_ods_ois_two_images():
    gt_a = np.array([[1, 1, 0, 0]], bool)
    lv_a = np.array([[200, 100, 150, 0]], np.uint8)
    gt_b = np.array([[1, 0, 0, 0]], bool)
    lv_b = np.array([[200, 100, 0, 0]], np.uint8)
    res = ods_ois([lv_a, lv_b], [gt_a, gt_b])
    # pooled: F1 0.75 for k<=100, 2/3 for 101..150, 0.8 for 151..200 -> ODS 0.8 (ties: highest, 200/255)
    assert res["ods"]["f1"] == pytest.approx(0.8)
    assert res["ods"]["threshold"] == pytest.approx(200 / 255)
    assert res["ods"]["precision"] == pytest.approx(1.0) and res["ods"]["recall"] == pytest.approx(2 / 3)
    # per image: A best for k<=100 (2 of 3, F1 0.8), B best for 101..200 (1 of 1); pooled (3,4,3,3) -> 6/7
    assert res["ois"]["thresholds"] == pytest.approx([100 / 255, 200 / 255])
    assert res["ois"]["f1"] == pytest.approx(6 / 7)
    # float maps give the same answer
    res_f = ods_ois([lv_a / 255.0, lv_b / 255.0], [gt_a, gt_b])
    assert res_f["ods"]["f1"] == pytest.approx(0.8) and res_f["ois"]["f1"] == pytest.approx(6 / 7)


def test_ois_does_not_flood_an_image_the_map_misses():
    gt = np.array([[1, 0, 0, 0]], bool)
    missed = np.array([[0, 90, 90, 90]], np.uint8)  # F1 = 0 at every threshold
    res = ods_ois([missed], [gt])
    assert res["ois"]["thresholds"] == [1.0] and res["ois"]["n_pred"] == 0


def test_curve_matches_mask_scoring_at_every_threshold():
    rng = np.random.default_rng(0)
    levels = rng.integers(0, 256, (20, 24)).astype(np.uint8)
    gt = rng.random((20, 24)) < 0.1
    for tol in (0, 1, 2):
        curve = count_curve(levels, gt, tol=tol)
        for k in (1, 40, 128, 255):
            assert curve.at(k) == count_mask(levels >= k, gt, tol=tol)


def test_bad_arguments():
    with pytest.raises(ValueError):
        count_mask(np.zeros((2, 2), bool), np.zeros((3, 3), bool))
    with pytest.raises(ValueError):
        count_mask(np.zeros((2, 2), bool), np.zeros((2, 2), bool), tol=-1)
    with pytest.raises(ValueError):
        ods_ois([np.full((2, 2), 1.5)], [np.zeros((2, 2), bool)])


def test_score_dirs_map_output_and_missing(tmp_path):
    gt_dir, run = tmp_path / "gt", tmp_path / "out"
    gt = _line()
    write_image_atomic(gt_dir / "a.png", gt)
    write_image_atomic(gt_dir / "only_gt.png", gt)
    write_image_atomic(run / "masks" / "a.png", _line(col=4))
    write_image_atomic(run / "masks" / "only_pred.png", gt)
    write_image_atomic(run / "probability" / "a.png", (_line(col=4) * 255).astype(np.uint8))
    (gt_dir / "broken.png").write_bytes(b"not a png")
    write_image_atomic(run / "masks" / "broken.png", gt)
    res = score_dirs(run, gt_dir, tol=1)
    assert res["n_images"] == 1
    assert res["missing_predictions"] == ["only_gt"] and res["missing_ground_truth"] == ["only_pred"]
    assert len(res["skipped"]) == 1 and "broken" in res["skipped"][0]["file"]
    assert res["exact"]["f1"] == 0.0 and res["tolerant"]["f1"] == 1.0
    assert res["ods"]["tolerant"]["f1"] == 1.0 and res["ods"]["exact"]["f1"] == 0.0
    json.dumps(res)  # serialisable


def test_score_cli_writes_json_and_curve(tmp_path):
    from typer.testing import CliRunner

    from crackscope.cli import app

    gt_dir, run = tmp_path / "gt", tmp_path / "out"
    write_image_atomic(gt_dir / "a.png", _line())
    write_image_atomic(run / "masks" / "a.png", _line())
    write_image_atomic(run / "probability" / "a.png", (_line() * 200).astype(np.uint8))
    result = CliRunner().invoke(app, ["score", str(run), str(gt_dir), "--tol", "2", "--out", str(tmp_path / "s")])
    assert result.exit_code == 0, result.output
    scores = json.loads((tmp_path / "s" / "scores.json").read_text())
    assert scores["exact"]["f1"] == 1.0
    assert (tmp_path / "s" / "pr_curve.png").stat().st_size > 0


def test_score_dirs_names_the_ground_truth_of_another_size(tmp_path):
    gt_dir, run = tmp_path / "gt", tmp_path / "out"
    write_image_atomic(gt_dir / "a.png", _line(shape=(10, 8)))
    write_image_atomic(run / "masks" / "a.png", _line())
    res = score_dirs(run, gt_dir)
    (skipped,) = res["skipped"]
    assert skipped["file"] == str(gt_dir / "a.png")
    assert "ground-truth size 8x10 differs from the size 8x8 of its prediction" in skipped["problem"]
    assert str(run / "masks" / "a.png") in skipped["problem"] and res["n_images"] == 0


def test_score_dirs_warns_about_jpeg_and_all_foreground_ground_truth(tmp_path):
    from PIL import Image

    from crackscope.errors import CrackscopeWarning

    gt_dir, run = tmp_path / "gt", tmp_path / "out"
    line = _line(shape=(32, 32), col=15, rows=range(4, 28))
    line[4:28, 16] = True  # a 2 px line
    gt_dir.mkdir()
    Image.fromarray(line.astype(np.uint8) * 255).save(gt_dir / "a.jpg", quality=75)
    assert np.count_nonzero(np.asarray(Image.open(gt_dir / "a.jpg"))) > line.sum()  # compression noise
    write_image_atomic(run / "masks" / "a.png", line)
    write_image_atomic(gt_dir / "b.png", np.full((8, 8), 255, np.uint8))
    write_image_atomic(run / "masks" / "b.png", _line())
    with pytest.warns(CrackscopeWarning) as caught:
        res = score_dirs(run, gt_dir)
    texts = [str(w.message) for w in caught]
    assert any("a.jpg: JPEG mask" in t for t in texts) and any("b.png: mask is crack everywhere" in t for t in texts)
    problems = {Path(w["file"]).name: w["problem"] for w in res["warnings"]}
    assert set(problems) == {"a.jpg", "b.png"}
    assert "crack = value >= 128" in problems["a.jpg"] and "crack everywhere" in problems["b.png"]
    (a_row,) = [row for row in res["per_image"] if row["name"] == "a"]
    assert a_row["exact"]["f1"] > 0.9  # the noise is not counted as crack
    json.dumps(res)


def test_score_dirs_skips_stems_naming_two_files(tmp_path):
    gt_dir, run = tmp_path / "gt", tmp_path / "out"
    write_image_atomic(gt_dir / "a.png", _line())
    write_image_atomic(gt_dir / "a.tif", _line())
    write_image_atomic(run / "masks" / "a.png", _line())
    res = score_dirs(run, gt_dir)
    assert res["n_images"] == 0 and res["missing_predictions"] == [] and res["missing_ground_truth"] == []
    (skipped,) = res["skipped"]
    assert "ambiguous: a.png, a.tif have one name" in skipped["problem"]
