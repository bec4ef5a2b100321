"""Adversarial colorizers: a generator and a conditional discriminator trained
against each other (the birds study's three cGANs, pix2pix).

One step, as pix2pix: G forward once; D update on real (inputs, true) and fake
(inputs, G(inputs)) pairs; G update against the *updated* D, with G's adversarial
gradient pulled back through that same forward pass (`jax.vjp`). D is
conditioned on what G reads (`model_inputs`: the gray image for this task).
"""

from __future__ import annotations

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp

from colorize_jax import color, models, registry
from colorize_jax.data import hints
from colorize_jax.losses import gan
from colorize_jax.models import layers
from colorize_jax.tasks import base


@flax.struct.dataclass
class GanState:
  """Both networks with their own optimizers; `ema` holds G's averaged
  variables ({"params", "batch_stats"}) when config.gan.ema_decay > 0, with a warm-up
  (`base.ema_decay_at`); evaluation, sample grids, colorize and export read them
  (`inference_variables`)."""

  step: jax.Array
  g: base.TrainState
  d: base.TrainState
  ema: Any = None


def _l1(pred, target):
  return jnp.mean(jnp.abs(pred - target).reshape(pred.shape[0], -1), axis=1)


# How G runs at test time (config.gan.test_time; docs/DESIGN.md, "Test-time mode"):
#   running_average: dropout off, BatchNorm's running averages (Flax's train=False):
#                    deterministic, one output per photo; the default.
#   paper:           Isola et al.'s: dropout on and each photo normalised by its own
#                    statistics (their test.py at batch 1 without --eval). Outputs vary with
#                    gan.test_time_seed, so several seeds give several colorizations.
TEST_TIME_MODES = ("running_average", "paper")


@registry.register("task", "adversarial")
class AdversarialTask(base.BaseTask):
  optimizers = {"g": "optimizer", "d": "d_optimizer"}
  monitor = "val/l1"
  console_keys = ("g/total", "g/adv", "g/l1", "d/total", "d/acc_real", "d/acc_fake")
  plot_panels = {
    "G": ["train/g/total", "train/g/adv"],
    "D": ["train/d/total", "train/d/real", "train/d/fake"],
    "D accuracy": ["train/d/acc_real", "train/d/acc_fake"],
    "L1": ["train/g/l1", "val/l1"],
  }

  def __init__(self, config):
    self.color_space = color.get_color_space(config.data)
    self.generator = models.build(
      config.model, out_channels=self.color_space.target_channels, dtype=config.get("dtype")
    )
    self.discriminator = models.build(
      config.discriminator, out_channels=1, kind="discriminator", dtype=config.get("dtype")
    )
    self.gan_loss = gan.build(config.gan_loss, config.get("gan_loss_options"))
    self.reconstruction = gan.reconstruction(
      config.loss, value_range=self.color_space.target_range, options=config.get("loss_options")
    )
    self.adv_weight = float(config.gan.adv_weight)
    self.ema_decay = base.ema_decay_of(config)
    # Stabilisers (losses/gan.py): weights, 0 = off.
    # .get: configs of runs trained before these switches existed lack them.
    self.feature_matching = float(config.gan.get("feature_matching", 0.0))
    self.r1_gamma = float(config.gan.get("r1_gamma", 0.0))
    gan.check_stabilisers(config)
    # .get: configs of runs trained before the switch existed lack it.
    self.test_time = str(config.gan.get("test_time", "running_average"))
    self.test_time_seed = int(config.gan.get("test_time_seed", 0))
    if self.test_time not in TEST_TIME_MODES:
      raise ValueError(
        f"gan.test_time={self.test_time!r} is not a test-time mode; valid: "
        + ", ".join(repr(m) for m in TEST_TIME_MODES)
      )

  # -- state ------------------------------------------------------------------

  def init_state(self, rng, image_size: int, optimizers) -> GanState:
    g_rng, d_rng = jax.random.split(rng)
    inputs = self.example_inputs(image_size)
    g = base.new_state(self.generator, optimizers["g"], g_rng, inputs)
    target = jnp.zeros((1, image_size, image_size, self.color_space.target_channels))
    variables = self.discriminator.init(d_rng, inputs, target, train=False)
    d = base.TrainState.create(
      apply_fn=self.discriminator.apply,
      params=variables["params"],
      tx=optimizers["d"],
      batch_stats=variables.get("batch_stats", {}),
    )
    ema = base.variables_of(g) if self.ema_decay else None
    return GanState(step=jnp.zeros((), jnp.int32), g=g, d=d, ema=ema)

  # -- training ---------------------------------------------------------------

  def _discriminate(self, params, batch_stats, inputs, target, *, features: bool = False):
    """D in train mode (batch statistics), as pix2pix runs it in both updates;
    with `features`, also its intermediate activations (for feature matching)."""
    mutable = ["batch_stats", "intermediates"] if features else ["batch_stats"]
    logits, mutated = self.discriminator.apply(
      {"params": params, "batch_stats": batch_stats}, inputs, target, train=True, mutable=mutable
    )
    stats = mutated.get("batch_stats", batch_stats)
    if features:
      return logits, stats, jax.tree.leaves(mutated.get("intermediates", {}))
    return logits, stats

  def _d_update(self, d: base.TrainState, inputs, target, fake, rng):
    fake = jax.lax.stop_gradient(fake)

    def objective(params):
      fake_logits, stats = self._discriminate(params, d.batch_stats, inputs, fake)
      real_logits, stats = self._discriminate(params, stats, inputs, target)
      total, terms = gan.over_scales(self.gan_loss.d_loss, real_logits, fake_logits)
      # For penalties that evaluate D elsewhere (WGAN-GP's interpolates, R1's
      # reals); their batch statistics are not kept.
      critic = lambda x: gan.critic_score(self._discriminate(params, stats, inputs, x)[0])
      penalty, penalty_terms = self.gan_loss.penalty(critic, target, fake, rng)
      if self.r1_gamma:
        penalty_terms = penalty_terms | {"r1": gan.r1_penalty(critic, target)}
        penalty = penalty + 0.5 * self.r1_gamma * penalty_terms["r1"]
      total = total + penalty
      per_example = {
        "total": total,
        **terms,
        **penalty_terms,
        **gan.over_scales(self.gan_loss.accuracy, real_logits, fake_logits, mean=True),
      }
      return total.mean(), (per_example, stats)

    grads, (per_example, stats) = jax.grad(objective, has_aux=True)(d.params)
    d, diagnostics = base.apply_gradients(d, grads, "d", batch_stats=stats)
    return d, per_example, diagnostics

  def _g_objective(self, d: base.TrainState, inputs, target):
    """G's loss as a function of its output, against the given D."""

    def objective(fake):
      if self.feature_matching:
        fake_logits, stats, fake_features = self._discriminate(
          d.params, d.batch_stats, inputs, fake, features=True
        )
        _, _, real_features = self._discriminate(
          d.params, d.batch_stats, inputs, target, features=True
        )
        fm = gan.feature_matching(fake_features, jax.lax.stop_gradient(real_features))
        terms = {"fm": fm}
      else:
        fake_logits, stats = self._discriminate(d.params, d.batch_stats, inputs, fake)
        terms = {}
      adv = gan.over_scales(self.gan_loss.g_loss, fake_logits)
      recon, recon_terms = self.reconstruction(fake, target)
      total = self.adv_weight * adv + recon + self.feature_matching * terms.get("fm", 0.0)
      # L1 is always logged (monitoring only when it is not a loss term).
      per_example = {"total": total, "adv": adv, "l1": _l1(fake, target), **recon_terms, **terms}
      return total.mean(), (per_example, stats)

    return objective

  def train_step(self, state: GanState, batch, rng):
    inputs, target = self.model_inputs(batch, base.inputs_key(rng))
    dropout_rng, penalty_rng = jax.random.split(rng)

    def generate(params):
      fake, mutated = base.apply_training(state.g, params, inputs, dropout_rng)
      return fake, mutated.get("batch_stats", state.g.batch_stats)

    # The one G forward pass: its output feeds D's update, and its pullback
    # turns dLoss_G/dfake (taken against the updated D) into G's gradient.
    fake, pull_back, g_stats = jax.vjp(generate, state.g.params, has_aux=True)
    d, d_metrics, d_diagnostics = self._d_update(state.d, inputs, target, fake, penalty_rng)
    fake_grad, (g_metrics, d_stats) = jax.grad(self._g_objective(d, inputs, target), has_aux=True)(
      fake
    )
    (g_grads,) = pull_back(fake_grad)
    g, g_diagnostics = base.apply_gradients(state.g, g_grads, "g", batch_stats=g_stats)
    # pix2pix's D also runs in train mode for G's loss, moving its running stats (unless G's
    # update was rejected as non-finite: that pass may have filled them with NaN).
    d = d.replace(batch_stats=base.kept_if_rejected(g.opt_state, d.batch_stats, d_stats))

    ema = state.ema
    if ema is not None:
      ema = base.ema_update(ema, base.variables_of(g), self.ema_decay, state.step)
    metrics = (
      {f"d/{k}": v.mean() for k, v in d_metrics.items()}
      | {f"g/{k}": v.mean() for k, v in g_metrics.items()}
      | d_diagnostics
      | g_diagnostics
    )
    return state.replace(step=state.step + 1, g=g, d=d, ema=ema), metrics

  # -- evaluation and inference -------------------------------------------------

  def generate(self, variables, inputs):
    if self.test_time == "running_average":
      return super().generate(variables, inputs)
    # "paper": each photo alone (batch 1, as pix2pix tests), so BatchNorm's statistics are the
    # photo's own, and its dropout key comes from its own pixels and the seed: neither padding
    # nor the other photos of a batch, nor its place there, change its colours.
    bits = jax.lax.bitcast_convert_type(inputs.astype(jnp.float32), jnp.uint32)
    keys = hints.content_keys(bits, self.test_time_seed)

    def one(x, key):
      pred, _ = self.generator.apply(
        variables, x[None], train=True, rngs={"dropout": key}, mutable=["batch_stats"]
      )
      return pred[0]

    return jax.vmap(one)(inputs, keys)

  def inference_variables(self, state: GanState) -> dict:
    return state.ema if state.ema is not None else base.variables_of(state.g)

  def loss_terms(self, pred, target, aux=None):
    """The reconstruction objective ('loss', 0 when there is none) and its terms."""
    del aux  # Read from the prediction only.
    recon, terms = self.reconstruction(pred, target)
    return {"loss": recon, **base.with_prefix("loss", terms)}

  def param_counts(self, state: GanState) -> dict[str, int]:
    return {
      "generator": layers.count_params(state.g.params),
      "discriminator": layers.count_params(state.d.params),
    }
