"""Checkpoint write failures (a full disk, a read-only folder) become one sentence that says
what to do, and the checkpoints already written stay as they are."""

import errno

import jax.numpy as jnp
import pytest

from jaxgan import checkpoint, errors


def test_a_full_disk_during_a_save_is_one_sentence_and_keeps_the_last_checkpoint(tmp_path,
                                                                                 monkeypatch):
  ckpt = checkpoint.Checkpointer(str(tmp_path / 'checkpoints'))
  state = {'w': jnp.ones(3)}
  ckpt.save(1, state)
  ckpt.wait()

  def full_disk(*args, **kwargs):
    raise ValueError('INTERNAL: Error writing ... RESOURCE_EXHAUSTED: No space left on device')

  monkeypatch.setattr(ckpt.manager, 'save', full_disk)
  with pytest.raises(errors.CheckpointError,
                     match=r'saving the checkpoint of step 2 .* the disk is full; free space, '
                           r'then rerun \(the last complete checkpoint is kept\)\.$'):
    ckpt.save(2, state)

  def enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, 'No space left on device', str(tmp_path / 'x'))

  monkeypatch.setattr(ckpt.manager, 'wait_until_finished', enospc)
  with pytest.raises(errors.CheckpointError, match='No space left on device .* free disk space'):
    ckpt.wait()
  monkeypatch.undo()
  assert ckpt.all_steps() == [1]
  restored, step = ckpt.restore_latest({'w': jnp.zeros(3)})
  assert step == 1 and float(restored['w'].sum()) == 3.0
  ckpt.close()
