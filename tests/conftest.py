"""Test session setup: 8 fake CPU devices and a shared compilation cache.

Eight host devices make every test exercise the data-parallel path (a single-device
reference uses one of them). The persistent compilation cache lets tests that build the same
computation (e.g. the same tiny model's step) compile it once per session.
"""

import gc
import os
import tempfile

# (Not --xla_backend_optimization_level=0: it compiles faster but changed the numerics enough
# to break the 8-devices-equal-1-device test's tolerance.)
os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') +
                           ' --xla_force_host_platform_device_count=8').strip()
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
os.environ.setdefault('CUDA_VISIBLE_DEVICES', '')

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position
import pytest  # pylint: disable=g-import-not-at-top,wrong-import-position

jax.config.update('jax_platforms', 'cpu')
jax.config.update('jax_compilation_cache_dir',
                  os.path.join(tempfile.gettempdir(), 'jaxgan-test-xla-cache'))
jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.5)
jax.config.update('jax_persistent_cache_min_entry_size_bytes', 0)
# A size limit turns on the cache's file lock (filelock, a dependency of the test reference
# torch): tests/run.py runs two files at once, and without the lock one process could read an
# entry the other is still writing. The limit itself is never reached (the suite writes about
# 0.1 GB, 439 entries).
jax.config.update('jax_compilation_cache_max_size', 16 * 2**30)


def pytest_configure(config):
  config.addinivalue_line(
      'markers', 'slow: trains, compiles large programs or starts subprocesses; `make test-fast` '
      'leaves these out (`make test`, which CI runs, runs everything)')


@pytest.fixture(autouse=True, scope='module')
def _free_compiled_programs_after_each_module():
  """Each test module's compiled programs are freed when it ends (the persistent cache above
  reloads any a later module needs), so the suite's memory does not grow with every module."""
  yield
  gc.collect()
  jax.clear_caches()
