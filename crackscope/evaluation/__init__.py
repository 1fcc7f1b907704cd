"""Evaluation of crack maps against ground-truth masks (pixel precision/recall/F1/IoU, ODS/OIS)."""

from __future__ import annotations

from crackscope.evaluation.scoring import Counts, count_mask, ods_ois, plot_pr_curve, score_dirs, score_masks

__all__ = ["Counts", "count_mask", "ods_ois", "plot_pr_curve", "score_dirs", "score_masks"]
