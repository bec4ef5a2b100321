"""The birds studies' claims, each with a verdict computed from a study's numbers
(bench/results_table.py prints them for every image size it has runs of)."""

from __future__ import annotations

import dataclasses
import os
import sys

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
for _path in (ROOT, BENCH):  # Run as a script from a checkout that is not pip-installed.
  if _path not in sys.path:
    sys.path.insert(0, _path)

from study_runs import CLAIMS_EVAL, Run  # noqa: E402


@dataclasses.dataclass
class Claim:
  title: str
  verdict: str  # "holds" | "does not hold" | "partly holds" | "not measured"
  evidence: str


def _missing(runs: dict[str, Run], names: list[str], keys: list[str], eval_name: str) -> list[str]:
  """What a claim lacks: runs the study did not make (e.g. at another image size, where it
  ran only some recipes), then metrics a run has no value for."""
  absent = [n for n in names if n not in runs]
  lacking = [
    f"{n} {k}" for n in names if n in runs for k in keys if runs[n].metric(eval_name, k) is None
  ]
  return ([f"{' and '.join(absent)} not run in this study"] if absent else []) + lacking


def _studied_regression(runs: dict[str, Run]) -> dict[str, Run]:
  """The studies' regression models: the study's own RGB recipes, not issue 22's ablations (each
  changes one thing of one of them) and not Lab recipes, whose MSE is in ab/110, not RGB."""
  return {
    n: r
    for n, r in runs.items()
    if r.task == "regression"
    and not r.study.get("ablation_of")
    and (r.config.get("data") or {}).get("color_space", "rgb") == "rgb"
  }


def claim_unet_lowest_mse(runs: dict[str, Run], eval_name: str = CLAIMS_EVAL) -> Claim:
  title = "(i) The U-Net has the lowest validation MSE of the regression models."
  regression = [
    n for n, r in _studied_regression(runs).items() if r.metric(eval_name, "mse") is not None
  ]
  if "unet" not in regression or len(regression) < 2:
    return Claim(
      title,
      "not measured",
      f"needs `unet` and another regression run with a {eval_name} MSE; "
      f"this study has {', '.join(regression) or 'none'}.",
    )
  mse = {n: runs[n].metric(eval_name, "mse") for n in regression}
  ranked = sorted(mse, key=mse.get)
  listing = ", ".join(f"{n} {mse[n]:.4f}" for n in ranked)
  verdict = "holds" if ranked[0] == "unet" else "does not hold"
  return Claim(title, verdict, f"{eval_name} MSE (RGB in [0, 1]), lowest first: {listing}.")


def claim_patchgan_colours_better(runs: dict[str, Run], eval_name: str = CLAIMS_EVAL) -> Claim:
  title = (
    "(ii) The cGAN with a U-Net generator and PatchGAN discriminator colours better than "
    "the regression models (lower ΔCF, higher AuC)."
  )
  gan = "cgan_unet_patchgan"
  keys = ("delta_colorfulness", "ab_auc")
  regression = {
    n: [r.metric(eval_name, k) for k in keys] for n, r in _studied_regression(runs).items()
  }
  regression = {n: v for n, v in regression.items() if None not in v}
  missing = _missing(runs, [gan], list(keys), eval_name)
  if missing or not regression:
    return Claim(
      title, "not measured", f"missing: {', '.join(missing) or 'regression runs with ΔCF and AuC'}."
    )
  cf, auc = (runs[gan].metric(eval_name, k) for k in keys)
  best_cf = min(regression, key=lambda n: regression[n][0])
  best_auc = max(regression, key=lambda n: regression[n][1])
  cf_ok, auc_ok = cf < regression[best_cf][0], auc > regression[best_auc][1]
  verdict = {(True, True): "holds", (False, False): "does not hold"}.get(
    (cf_ok, auc_ok), "partly holds"
  )
  better = {True: "better", False: "not better"}
  return Claim(
    title,
    verdict,
    (
      f"{eval_name}: {gan} ΔCF {cf:.2f} against the best regression model's "
      f"({best_cf}) {regression[best_cf][0]:.2f}, {better[cf_ok]}; AuC {auc:.3f} against "
      f"({best_auc}) {regression[best_auc][1]:.3f}, {better[auc_ok]}."
    ),
  )


def claim_l1_fixes_oversaturation(runs: dict[str, Run], eval_name: str = CLAIMS_EVAL) -> Claim:
  title = "(iii) Adding L1 to the simple cGAN fixes its oversaturation."
  missing = _missing(runs, ["cgan", "cgan_l1"], ["colorfulness"], eval_name)
  photos = None
  if "cgan" in runs:
    photos = runs["cgan"].metric(eval_name, "photos_colorfulness", gray=True)
  if missing or photos is None:
    return Claim(
      title, "not measured", f"missing: {', '.join(missing) or 'the photos colourfulness'}."
    )
  plain = runs["cgan"].metric(eval_name, "colorfulness")
  with_l1 = runs["cgan_l1"].metric(eval_name, "colorfulness")
  numbers = (
    f"{eval_name} mean colourfulness: photos {photos:.1f}, cgan {plain:.1f} "
    f"({plain - photos:+.1f}), cgan_l1 {with_l1:.1f} ({with_l1 - photos:+.1f})."
  )
  if plain <= photos:
    return Claim(
      title,
      "does not hold",
      numbers + " The plain cGAN is not oversaturated at this "
      "budget, so there is nothing for L1 to fix.",
    )
  closer = abs(with_l1 - photos) < abs(plain - photos)
  dcf = [runs[n].metric(eval_name, "delta_colorfulness") for n in ("cgan", "cgan_l1")]
  if None not in dcf:
    numbers += f" Per-image ΔCF: cgan {dcf[0]:.1f}, cgan_l1 {dcf[1]:.1f}."
  if closer:
    return Claim(title, "holds", numbers + " L1 brings it closer to the photos.")
  if with_l1 <= photos:
    return Claim(
      title,
      "partly holds",
      numbers + " L1 removes the oversaturation but overshoots into desaturation, further "
      "from the photos' mean than the plain cGAN was.",
    )
  return Claim(title, "does not hold", numbers + " L1 does not bring it closer.")


def _compare_pair(
  runs: dict[str, Run], title: str, a: str, b: str, eval_name: str = CLAIMS_EVAL
) -> Claim:
  """Whether run `a` beats run `b` on ΔCF (lower) and AuC (higher), with both numbers shown."""
  keys = ("delta_colorfulness", "ab_auc", "colorfulness")
  missing = _missing(runs, [a, b], list(keys), eval_name)
  if missing:
    return Claim(title, "not measured", f"missing: {', '.join(missing)}.")
  (cf_a, auc_a, c_a), (cf_b, auc_b, c_b) = (
    [runs[n].metric(eval_name, k) for k in keys] for n in (a, b)
  )
  cf_ok, auc_ok = cf_a < cf_b, auc_a > auc_b
  verdict = {(True, True): "holds", (False, False): "does not hold"}.get(
    (cf_ok, auc_ok), "partly holds"
  )
  return Claim(
    title,
    verdict,
    f"{eval_name}: ΔCF {a} {cf_a:.2f} against {b} {cf_b:.2f} ({cf_a - cf_b:+.2f}); AuC "
    f"{auc_a:.3f} against {auc_b:.3f} ({auc_a - auc_b:+.3f}); colourfulness {c_a:.1f} against "
    f"{c_b:.1f}.",
  )


def claim_classification_beats_regression(runs: dict[str, Run]) -> Claim:
  return _compare_pair(
    runs,
    "(iv) ab classification with rebalancing (Zhang et al.) colours better than MSE regression "
    "with the same U-Net at an equal budget (lower ΔCF, higher AuC).",
    "classification",
    "unet",
  )


def claim_stabilisers_help_pix2pix(runs: dict[str, Run]) -> Claim:
  return _compare_pair(
    runs,
    "(v) Feature matching and spectral norm improve pix2pix's colours at an equal budget "
    "(lower ΔCF, higher AuC).",
    "pix2pix_fm_sn",
    "pix2pix",
  )


CLAIMS = (
  claim_unet_lowest_mse,
  claim_patchgan_colours_better,
  claim_l1_fixes_oversaturation,
  claim_classification_beats_regression,
  claim_stabilisers_help_pix2pix,
)
