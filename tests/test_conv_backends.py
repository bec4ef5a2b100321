"""Per-backend formulations: stock XLA convolutions for every layer of every registered model
off the CPU, the same parameters everywhere, and a CPU-trained checkpoint predicting the
same under the stock formulation."""

from __future__ import annotations

import grain
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from jax.extend import core as jax_core

from colorize_jax import models, registry
from colorize_jax.models import conv
from colorize_jax.train import checkpoint

SIZE = 256  # Deep enough for unet_256; traced only (eval_shape, make_jaxpr), never compiled.
NETWORKS = [("model", n) for n in registry.names("model")] + [
  ("discriminator", n) for n in registry.names("discriminator")
]


def _network(kind, name):
  return models.build(ml_collections.ConfigDict({"name": name}), out_channels=2, kind=kind)


def _inputs(kind):
  gray = jnp.zeros((2, SIZE, SIZE, 1))
  return (gray, jnp.zeros((2, SIZE, SIZE, 2))) if kind == "discriminator" else (gray,)


def _traced(kind, name, backend):
  """(variable shapes, recorded choices, jaxpr of the eval forward) formulated for `backend`."""
  net, inputs = _network(kind, name), _inputs(kind)
  rngs = {"params": jax.random.key(0), "dropout": jax.random.key(1)}
  with conv.formulated_for(backend), conv.recorded() as choices:
    variables = jax.eval_shape(lambda: net.init(rngs, *inputs, train=False))
    del choices[:]  # Keep the forward's choices only: init traced the same layers once.
    jaxpr = jax.make_jaxpr(lambda v, *a: net.apply(v, *a, train=False))(variables, *inputs)
  return jax.tree.map(lambda x: (x.shape, x.dtype), variables), list(choices), jaxpr


def _primitives(jaxpr):
  """Every primitive name in a jaxpr, sub-jaxprs (custom_vjp, pjit) included."""
  names = []
  for eqn in jaxpr.eqns:
    names.append(eqn.primitive.name)
    for sub in jax_core.jaxprs_in_params(eqn.params):
      names.extend(_primitives(sub))
  return names


@pytest.mark.parametrize("kind, name", NETWORKS)
def test_every_layer_is_stock_xla_off_the_cpu(kind, name):
  cpu_shapes, cpu_choices, _ = _traced(kind, name, "cpu")
  choices = []
  for backend in ("gpu", "tpu"):
    shapes, choices, jaxpr = _traced(kind, name, backend)
    assert shapes == cpu_shapes, backend  # Checkpoints move between backends.
    assert {c.how for c in choices} <= {"xla"}, (backend, choices)
    assert {c.backend for c in choices} <= {backend}
    prims = _primitives(jaxpr.jaxpr)
    # One stock convolution per layer (no phases), and no custom gradients.
    assert prims.count("conv_general_dilated") == len(choices), backend
    assert not {"custom_vjp_call", "custom_vjp_call_jaxpr"} & set(prims), backend
  # The CPU's transposed layers are made of several convolutions; each layer is one choice here.
  assert len([c for c in cpu_choices if c.op == "conv_transpose"]) == len(
    [c for c in choices if c.op == "conv_transpose"]
  )


def test_the_cpu_formulations_are_in_use_on_the_cpu():
  """The check above is not vacuous: pix2pix's networks do get the CPU formulations on the CPU."""
  hows = set()
  for kind, name in (("model", "unet_128"), ("discriminator", "patchgan")):
    hows |= {c.how for c in _traced(kind, name, "cpu")[1]}
  assert {"patches", "subpixel_grad", "merged", "phases"} <= hows


def _tiny_unet():
  return models.build(
    ml_collections.ConfigDict({"name": "unet_128", "num_downs": 5, "base_features": 4}),
    out_channels=2,
  )


def test_cpu_trained_checkpoint_predicts_the_same_with_stock_convolutions(tmp_path):
  """Parameters trained with the CPU formulations, saved by the run's checkpoints and
  restored under the GPU/TPU formulation, predict the same."""
  net, size = _tiny_unet(), 32  # 5 downs: 32 px -> 1 px, so patches, phases and merged all run.
  gray = jax.random.uniform(jax.random.key(0), (4, size, size, 1))
  target = jax.random.uniform(jax.random.key(1), (4, size, size, 2), minval=-1.0)
  variables = net.init({"params": jax.random.key(2)}, gray, train=False)

  def sgd_step(variables, _):
    def loss(params):
      pred, updates = net.apply(
        dict(variables, params=params),
        gray,
        train=True,
        rngs={"dropout": jax.random.key(3)},
        mutable=["batch_stats"],
      )
      return jnp.mean(jnp.abs(pred - target)), updates

    grads, updates = jax.grad(loss, has_aux=True)(variables["params"])
    params = jax.tree.map(lambda p, g: p - 0.1 * g, variables["params"], grads)
    return dict(updates, params=params), None

  with conv.formulated_for("cpu"), conv.recorded() as trained_with:
    trained, _ = jax.jit(lambda v: jax.lax.scan(sgd_step, v, length=3))(variables)
  assert {"patches", "phases", "merged"} <= {c.how for c in trained_with}

  ckpt = checkpoint.Checkpoints(str(tmp_path / "checkpoints"), async_save=False)
  ckpt.save(3, trained, iter(grain.MapDataset.range(4).to_iter_dataset()), checkpoint.Progress())
  ckpt.wait()
  abstract = checkpoint.abstract_like(trained)
  predict = lambda v: net.apply(v, gray, train=False)
  outputs = {}
  for backend in ("cpu", "gpu"):
    with conv.formulated_for(backend):
      restored, _ = ckpt.restore(3, abstract)
      outputs[backend] = np.asarray(jax.jit(predict)(restored))
  ckpt.close()
  assert np.abs(outputs["cpu"] - np.asarray(jax.jit(predict)(variables))).max() > 1e-3  # Trained.
  np.testing.assert_allclose(outputs["gpu"], outputs["cpu"], rtol=1e-5, atol=1e-5)
