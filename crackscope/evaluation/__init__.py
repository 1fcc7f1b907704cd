"""Scores of crack maps against ground-truth masks (pixel precision/recall/F1/IoU, ODS/OIS): `map_scores`.

Classifier metrics (accuracy, recall, ...) are `crackscope.training.classifier_scores`."""

from __future__ import annotations

from crackscope.evaluation.map_scores import Counts, count_mask, ods_ois, plot_pr_curve, score_dirs, score_masks

__all__ = ["Counts", "count_mask", "ods_ois", "plot_pr_curve", "score_dirs", "score_masks"]
