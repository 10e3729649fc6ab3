"""One mixtures run (seed 0) with a loss family's settings changed: how BENCHMARKS.md's
exploration of the grid beyond the committed table was done.

  python bench/mixtures_variant.py NAME '{"shared": {"model.hidden": 512}}' [grid|ring]

The JSON changes the family of `jaxgan.study.mixtures` (default 'wasserstein_gp'):
  "family": another family name; "shared": SHARED model settings (e.g. model.hidden);
  "steps": generator updates on the mixture; "decay": steps of the low-lr phase;
  "decay_factor": its lr factor; any other key: a config override (e.g. "train.ema_decay").
Prints `NAME MIXTURE modes_covered high_quality_% seconds`; the run goes to /tmp/jaxgan-mx/NAME.
"""

import dataclasses
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
  import jax  # pylint: disable=g-import-not-at-top
  from absl import logging  # pylint: disable=g-import-not-at-top
  from jaxgan.study import mixtures  # pylint: disable=g-import-not-at-top
  jax.config.update('jax_compilation_cache_dir',
                    os.path.join(tempfile.gettempdir(), 'jaxgan-jax-cache'))
  logging.set_verbosity(logging.WARNING)
  name, variant = sys.argv[1], json.loads(sys.argv[2])
  mixture = sys.argv[3] if len(sys.argv) > 3 else 'grid'
  loss = variant.pop('family', 'wasserstein_gp')
  shared = variant.pop('shared', {})
  steps, decay = variant.pop('steps', None), variant.pop('decay', None)
  factor = variant.pop('decay_factor', None)
  family = mixtures.FAMILIES[loss]
  mixtures.FAMILIES[loss] = dataclasses.replace(
      family, overrides={**family.overrides, **variant},
      steps={**family.steps, **({mixture: steps} if steps else {})},
      decay_steps={**family.decay_steps, **({mixture: decay} if decay else {})},
      decay_factor=factor or family.decay_factor)
  mixtures.SHARED.update(shared)
  start = time.time()
  result = mixtures.run_one(mixture, loss, 0, os.path.join(tempfile.gettempdir(), 'jaxgan-mx', name))
  print(name, mixture, result.modes_covered, round(100 * result.high_quality, 1),
        f'{time.time() - start:.0f}s', flush=True)


if __name__ == '__main__':
  main()
