"""ab classification losses (kind "ab_loss") and the classification task's objective.

An ab loss is built as `factory(**options)` and called as
`loss(logits [B, H, W, Q], target_ab [B, H, W, 2] in Lab units, class_weights [Q]) -> [B]`.

The objective is the loss spec of config.loss, where ab terms and pixel terms
mix by weight: 'ab_ce' is Zhang et al.'s rebalanced classification;
'ab_ce:1,l1:10' adds an L1 term on the decoded (annealed-mean) ab, as later
work pairs classification with regression. Pixel terms see the decoded
prediction and the target in the target space (ab / 110), as in regression.
"""

from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp

from colorize_jax import color, registry
from colorize_jax.color import ab_bins
from colorize_jax.losses import objective as objective_lib

KINDS = ("ab_loss", "pixel_loss")


@registry.register("ab_loss", "ab_ce")
def rebalanced_cross_entropy(*, neighbours: int = 5, sigma: float = 5.0):
  """Per pixel: -v(z) sum_q z_q log softmax(logits)_q, with z the soft encoding
  of the true ab over its `neighbours` nearest bins (Gaussian, `sigma` in ab
  units) and v the rebalancing weight of its nearest bin; mean over pixels.
  Weights of 1 give the unweighted classification loss."""

  def loss(logits, target_ab, class_weights):
    indices, soft = ab_bins.soft_encode(target_ab, neighbours=neighbours, sigma=sigma)
    log_probs = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    cross_entropy = -jnp.sum(soft * jnp.take_along_axis(log_probs, indices, axis=-1), axis=-1)
    per_pixel = class_weights[indices[..., 0]] * cross_entropy
    return jnp.mean(per_pixel.reshape(per_pixel.shape[0], -1), axis=1)

  return loss


def _build(factory, name: str, options: dict):
  accepted = set(inspect.signature(factory).parameters)
  unknown = set(options) - accepted
  if unknown:
    raise ValueError(f"loss {name!r} has no option(s) {sorted(unknown)}; valid: {sorted(accepted)}")
  return factory(**options)


class ClassificationObjective:
  """`objective(logits, pred, target, class_weights) -> (total [B], {name: [B]})`.

  `logits` [B, H, W, Q]; `pred` the decoded ab and `target` the true ab, both
  in the target space (ab / color.AB_SCALE)."""

  def __init__(self, spec: str, *, value_range, options=None):
    weights = objective_lib.parse_spec(spec, KINDS)
    ab_names = set(registry.names("ab_loss"))
    self.weights = {n: w for n, w in weights.items() if n in ab_names}
    if not self.weights:
      raise ValueError(
        f"loss {spec!r} has no ab classification term ({', '.join(sorted(ab_names))}); the "
        "classification task needs one, e.g. 'ab_ce' or 'ab_ce:1,l1:10' "
        "(pixel losses alone: task=regression)"
      )
    options = options or {}
    self.fns = {
      n: _build(registry.get("ab_loss", n), n, dict(options.get(n, {}) or {})) for n in self.weights
    }
    pixel = ",".join(f"{n}:{w}" for n, w in weights.items() if n not in ab_names)
    self.pixel = (
      objective_lib.Objective(pixel, value_range=value_range, options=options) if pixel else None
    )

  def __call__(self, logits, pred, target, class_weights):
    target_ab = target.astype(jnp.float32) * color.AB_SCALE
    terms = {n: fn(logits, target_ab, class_weights) for n, fn in self.fns.items()}
    total = sum(self.weights[n] * v for n, v in terms.items())
    if self.pixel is not None:
      pixel_total, pixel_terms = self.pixel(pred, target)
      total, terms = total + pixel_total, terms | pixel_terms
    return total, terms
