"""GAN objectives, registered under kind "gan_loss" and chosen by `config.gan_loss`.

Each objective turns discriminator logits (any shape [B, ...]: one logit per
image or a PatchGAN map) into per-example [B] values:

  d_loss(real_logits, fake_logits) -> (total [B], {"real": [B], "fake": [B]})
  g_loss(fake_logits) -> [B]
  penalty(critic, real, fake, rng) -> (total [B], {name: [B]})

`penalty` is where an objective that needs the discriminator itself (WGAN-GP
evaluates it on interpolates) gets it: the task passes `critic`, a function
colour target -> per-example score, that closes over the conditioning input
and the discriminator's parameters, so the penalty's gradient reaches them.

A multi-scale discriminator gives a list of logits, one per scale: the task
applies each objective through `over_scales`, which sums the losses over the
scales, as pix2pixHD does (its GANLoss adds each D's loss), and averages the
accuracies.

Penalties (WGAN-GP, R1) differentiate `critic`: per example, the mean of D's
patch logits (summed over scales). For a PatchGAN of P patches that is 1/P of
the summed logits, so its squared gradient norm is 1/P^2 of the summed-logit
convention (196^2 for pix2pix's 14 x 14 patches at 256 px): gamma and
gp_weight are on the patch-mean scale, where the literature's per-image
critics (one logit per image) put them.

Stabilisers the adversarial task adds on top of any objective (config.gan):
  feature_matching: 10.0   pix2pixHD's feature matching for G (`feature_matching`)
  r1_gamma: 10.0           Mescheder et al.'s R1 penalty on reals for D (`r1_penalty`),
                           gamma/2 E||grad_x D(x_real)||^2; not with wgan_gp, which
                           already penalises D's gradient.
WGAN-GP and R1 penalise each example's gradient, so they need a D without batch
statistics (discriminator.norm instance, layer or none; spectral norm is fine):
`check_stabilisers` refuses them with norm='batch'.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax

from colorize_jax import registry
from colorize_jax.losses import objective as objective_lib


def per_example_mean(x) -> jnp.ndarray:
  """[B, ...] -> [B]: a PatchGAN's patches count as one example's average
  (and a multi-scale D's list of logits, the average over its scales)."""
  if isinstance(x, (list, tuple)):
    return sum(per_example_mean(s) for s in x) / len(x)
  return jnp.mean(x.astype(jnp.float32).reshape(x.shape[0], -1), axis=1)


def over_scales(fn, *logits, mean: bool = False):
  """`fn(*logits)`, or for a multi-scale D's lists of logits the sum over scales of `fn` on
  each scale's (every output leaf, e.g. (total, terms), summed as pix2pixHD sums its D
  losses); `mean`: averaged instead (accuracies, fractions)."""
  if not isinstance(logits[0], (list, tuple)):
    return fn(*logits)
  outputs = [fn(*scale) for scale in zip(*logits)]
  return jax.tree.map(lambda *xs: sum(xs) / (len(xs) if mean else 1), *outputs)


def critic_score(logits) -> jnp.ndarray:
  """[B]: the per-example score a penalty differentiates, D's patch-mean logit (summed over
  a multi-scale D's scales, as its losses are)."""
  if isinstance(logits, (list, tuple)):
    return sum(per_example_mean(s) for s in logits)
  return per_example_mean(logits)


def r1_penalty(critic, real) -> jnp.ndarray:
  """||d critic(x) / dx||^2 per example at the real colour targets (Mescheder
  et al. 2018); the task adds gamma/2 times it to D's loss. `critic` as in
  `gradient_penalty` (per-example scores [B] of a D without batch coupling)."""
  grads = jax.grad(lambda x: jnp.sum(critic(x)))(real)
  return jnp.sum(jnp.square(grads.reshape(grads.shape[0], -1).astype(jnp.float32)), axis=1)


def feature_matching(fake_features, real_features) -> jnp.ndarray:
  """pix2pixHD's feature matching loss, per example [B].

  Given D's intermediate activations (every layer before its logits, every
  scale) on (gray, fake) and (gray, real), pix2pixHD sums the L1 distance of
  each layer, weighted 4 / L for a D of L such layers, and averages over its
  scales: 4 x the mean over all the maps of their per-example mean |fake - real|.
  The real features should carry no gradient (stop_gradient).
  """
  if len(fake_features) != len(real_features) or not fake_features:
    raise ValueError(
      f"feature matching needs the same non-zero number of feature maps for fake "
      f"and real; got {len(fake_features)} and {len(real_features)}"
    )
  distances = [
    per_example_mean(jnp.abs(f.astype(jnp.float32) - r.astype(jnp.float32)))
    for f, r in zip(fake_features, real_features)
  ]
  return 4.0 * sum(distances) / len(distances)


class GanLoss:
  """Shared parts. `threshold` splits logits into 'real' and 'fake' decisions
  for D's accuracy; `d_scale` multiplies D's objective (pix2pix halves it, so
  D learns more slowly than G)."""

  threshold = 0.0
  d_scale = 0.5

  def d_terms(self, real_logits, fake_logits) -> dict:
    raise NotImplementedError

  def g_loss(self, fake_logits) -> jnp.ndarray:
    raise NotImplementedError

  def d_loss(self, real_logits, fake_logits):
    terms = self.d_terms(real_logits, fake_logits)
    return self.d_scale * (terms["real"] + terms["fake"]), terms

  def penalty(self, critic, real, fake, rng):
    del critic, fake, rng
    return jnp.zeros(real.shape[:1], jnp.float32), {}

  def accuracy(self, real_logits, fake_logits) -> dict:
    """Per-example fraction of D's decisions (patches) that are right."""
    return {
      "acc_real": per_example_mean(real_logits > self.threshold),
      "acc_fake": per_example_mean(fake_logits <= self.threshold),
    }


@registry.register("gan_loss", "vanilla")
class Vanilla(GanLoss):
  """Binary cross-entropy on logits, non-saturating for G (pix2pix's 'vanilla')."""

  def d_terms(self, real_logits, fake_logits):
    bce = optax.sigmoid_binary_cross_entropy
    return {
      "real": per_example_mean(bce(real_logits, jnp.ones_like(real_logits))),
      "fake": per_example_mean(bce(fake_logits, jnp.zeros_like(fake_logits))),
    }

  def g_loss(self, fake_logits):
    return per_example_mean(
      optax.sigmoid_binary_cross_entropy(fake_logits, jnp.ones_like(fake_logits))
    )


@registry.register("gan_loss", "lsgan")
class LeastSquares(GanLoss):
  """Mao et al.: squared distance of the raw output to 1 (real) or 0 (fake)."""

  threshold = 0.5

  def d_terms(self, real_logits, fake_logits):
    return {
      "real": per_example_mean(jnp.square(real_logits - 1.0)),
      "fake": per_example_mean(jnp.square(fake_logits)),
    }

  def g_loss(self, fake_logits):
    return per_example_mean(jnp.square(fake_logits - 1.0))


@registry.register("gan_loss", "hinge")
class Hinge(GanLoss):
  """SAGAN/BigGAN's hinge: D wants real >= 1 and fake <= -1; G raises D(fake)."""

  def d_terms(self, real_logits, fake_logits):
    return {
      "real": per_example_mean(jax.nn.relu(1.0 - real_logits)),
      "fake": per_example_mean(jax.nn.relu(1.0 + fake_logits)),
    }

  def g_loss(self, fake_logits):
    return -per_example_mean(fake_logits)


@registry.register("gan_loss", "wgan_gp")
class WassersteinGP(GanLoss):
  """Gulrajani et al.: critic score difference plus `gp_weight` x (||grad|| - 1)^2
  on random interpolates between real and fake colour targets. The critic
  should not use BatchNorm (its batch statistics couple the examples whose
  gradients are penalised): set `discriminator.norm` to 'instance' or 'none'."""

  d_scale = 1.0  # The critic's objective is the score difference itself.

  def __init__(self, gp_weight: float = 10.0):
    self.gp_weight = gp_weight

  def d_terms(self, real_logits, fake_logits):
    return {"real": -per_example_mean(real_logits), "fake": per_example_mean(fake_logits)}

  def g_loss(self, fake_logits):
    return -per_example_mean(fake_logits)

  def penalty(self, critic, real, fake, rng):
    gp = gradient_penalty(critic, real, fake, rng)
    return self.gp_weight * gp, {"gp": gp}


def gradient_penalty(critic, real, fake, rng) -> jnp.ndarray:
  """(||d critic(x) / dx|| - 1)^2 per example, x = eps real + (1 - eps) fake.

  `critic` maps [B, ...] to per-example scores [B]. Summing the scores before
  differentiating gives each example its own gradient, since a critic without
  batch statistics never mixes examples.
  """
  eps = jax.random.uniform(rng, (real.shape[0],) + (1,) * (real.ndim - 1), real.dtype)
  mixed = eps * real + (1.0 - eps) * jax.lax.stop_gradient(fake)
  grads = jax.grad(lambda x: jnp.sum(critic(x)))(mixed)
  # The epsilon keeps the norm's gradient finite where grads are exactly 0.
  norm = jnp.sqrt(jnp.sum(jnp.square(grads.reshape(grads.shape[0], -1)), axis=1) + 1e-12)
  return jnp.square(norm - 1.0)


def _discriminator_norm(d_cfg) -> str | None:
  """discriminator.norm, or the registered discriminator's default when the config omits it."""
  if d_cfg.get("norm") is not None:
    return str(d_cfg.norm)
  try:
    fields = dataclasses.fields(registry.get("discriminator", d_cfg.name))
  except (registry.UnknownNameError, TypeError):
    return None  # Named (and refused) where the discriminator is built.
  return next((f.default for f in fields if f.name == "norm"), None)


def check_stabilisers(config) -> None:
  """Stabiliser switches that cannot work together, named before anything compiles."""
  gan_cfg, d_cfg = config.gan, config.discriminator
  for key in ("feature_matching", "r1_gamma"):
    if float(gan_cfg.get(key, 0.0)) < 0:
      raise ValueError(f"gan.{key} is a weight (0 = off); got {gan_cfg.get(key)}")
  if float(gan_cfg.get("r1_gamma", 0.0)) and config.gan_loss == "wgan_gp":
    raise ValueError(
      "gan.r1_gamma > 0 with gan_loss 'wgan_gp': WGAN-GP already penalises D's "
      "gradient (gan_loss_options.wgan_gp.gp_weight); use R1 with vanilla, lsgan or "
      "hinge, or set gan.r1_gamma=0"
    )
  penalty = (
    "gan_loss 'wgan_gp'"
    if config.gan_loss == "wgan_gp"
    else ("gan.r1_gamma > 0" if float(gan_cfg.get("r1_gamma", 0.0)) else "")
  )
  if penalty and _discriminator_norm(d_cfg) == "batch":
    # A train-mode BatchNorm normalises each example by the batch's statistics, so the
    # gradient of example 0's score moves with examples 1..B-1: the penalty is not the
    # per-example gradient norm its papers define.
    raise ValueError(
      f"{penalty} penalises D's per-example gradient, but discriminator.norm='batch' couples "
      "the examples of a batch; use --config.discriminator.norm=instance (or layer, none)"
    )
  if int(d_cfg.get("num_scales", 1)) < 1:
    raise ValueError(
      f"discriminator.num_scales must be >= 1 (1 = one PatchGAN); got {d_cfg.get('num_scales')}"
    )


def build(name: str, options=None) -> GanLoss:
  """The objective `config.gan_loss` names, with `config.gan_loss_options[name]`."""
  cls = registry.get("gan_loss", name)
  kwargs = dict((options or {}).get(name, {}) or {})
  try:
    return cls(**kwargs)
  except TypeError:
    raise ValueError(f"gan_loss {name!r} does not take option(s) {sorted(kwargs)}") from None


_NO_RECONSTRUCTION = ("", "none")


class NoReconstruction:
  """The plain cGAN's 'no pixel loss': the Objective interface, contributing zero."""

  def __call__(self, pred, target):
    del target
    return jnp.zeros(pred.shape[:1], jnp.float32), {}


def reconstruction(spec: str, *, value_range, options=None):
  """`config.loss` for a generator: an `Objective`, or zero for '' / 'none'.

  Lives here rather than in objective.py so the regression task keeps
  rejecting an empty spec: a regression model without a loss is a typo.
  """
  if spec.strip().lower() in _NO_RECONSTRUCTION:
    return NoReconstruction()
  return objective_lib.Objective(spec, value_range=value_range, options=options)
