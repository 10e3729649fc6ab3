"""The study report: built from hand-written workdirs (no training), its page and figures."""

import base64
import json
import os
import re
import subprocess
import sys

import numpy as np
from PIL import Image
import pytest

from jaxgan import report

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _png(path, color, size=(40, 40)):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  Image.new('RGB', size, color).save(path)


def _workdir(root, name, *, model='dcgan', loss='hinge', fids=(50.0, 42.5), ema=0.0,
             attention=False, dataset='digits', modes=None):
  """A workdir as train.py writes it: 40 steps logged every 10, evaluations at 20 and 40."""
  wd = os.path.join(root, name)
  os.makedirs(wd)
  config = {'data': {'dataset': dataset, 'image_size': 32},
            'model': {'name': model}, 'loss': {'name': loss, 'regularizers': {}},
            'train': {'num_steps': 40, 'ema_decay': ema, 'ema_start': 0, 'batch_size': 16}}
  with open(os.path.join(wd, 'config.json'), 'w') as f:
    json.dump(config, f)
  with open(os.path.join(wd, 'run_info.json'), 'w') as f:
    json.dump({'jax': '0.10.2', 'versions': {'jax': '0.10.2', 'flax': '0.12.8'},
               'devices': ['cpu:0'], 'device_kind': 'cpu', 'process_count': 1,
               'started': '2026-01-01T00:00:00Z', 'git_revision': 'abc1234def5678',
               'g_params': 1_234_567, 'd_params': 4_321,
               'loss': f'{loss} + 10 * <gp>'}, f)
  lines = []
  t = 1_000.0
  for i, step in enumerate((10, 20, 30, 40)):
    t += 5.0
    lines.append({'step': step, 'time': t, 'd/total': 1.0 - 0.1 * i, 'd/hinge': 1.0 - 0.1 * i,
                  'd/real_logit': 0.5, 'd/fake_logit': -0.5, 'g/total': 0.5 + 0.2 * i,
                  'g/hinge': 0.5 + 0.2 * i, 'steps_per_sec': 2.0,
                  'images_per_sec': 100.0 * (i + 1)})
    if step in (20, 40) and fids:
      t += 5.0
      row = {'step': step, 'time': t, 'eval/fid': fids[step // 20 - 1],
             'eval/kid': 0.01 * (3 - step // 20), 'eval/seconds': 5.0}
      lines.append(row)
    if modes and step in (20, 40):
      lines.append({'step': step, 'time': t, 'modes/modes_covered': modes[step // 20 - 1][0],
                    'modes/high_quality': modes[step // 20 - 1][1]})
  # A resumed run appends rows again from its checkpoint: the later value of a step wins.
  lines.append({'step': 40, 'time': t + 100, 'g/total': 9.0, 'g/hinge': 9.0,
                'steps_per_sec': 2.0, 'images_per_sec': 400.0})
  with open(os.path.join(wd, 'metrics.jsonl'), 'w') as f:
    f.write('\n'.join(json.dumps(r) for r in lines) + '\n{"step": 41, "ti')  # killed mid-line
  _png(os.path.join(wd, 'samples', 'step_0000020.png'), (200, 0, 0))
  _png(os.path.join(wd, 'samples', 'step_0000040.png'), (0, 200, 0))
  if fids:
    with open(os.path.join(wd, 'best_fid.json'), 'w') as f:
      json.dump({'step': 40, 'fid': min(fids)}, f)
    _png(os.path.join(wd, 'samples', 'best_fid.png'), (0, 0, 200))
  if attention:
    _png(os.path.join(wd, 'attention', 'step_0000040.png'), (90, 90, 0), size=(80, 40))
  return wd


def _valid_png(path):
  assert os.path.getsize(path) > 0
  with Image.open(path) as im:
    im.verify()
  with Image.open(path) as im:
    assert im.format == 'PNG' and min(im.size) > 50


def _row(page, run):
  """The results table's cells of `run` (tags stripped)."""
  m = re.search(rf'<tr><td><a href="#run-{re.escape(run)}-samples">.*?</tr>', page)
  assert m, f'no table row for {run}'
  cells = re.findall(r'<td[^>]*>(.*?)</td>', m.group(0))
  return [re.sub(r'<[^>]+>', '', c) for c in cells]


@pytest.fixture(name='study_dir')
def _study_dir(tmp_path):
  root = str(tmp_path / 'study')
  _workdir(root, 'dcgan')
  _workdir(root, 'sagan_hinge', model='sagan', ema=0.999, attention=True, fids=(30.0, 35.0))
  _workdir(root, 'wgan_clip', loss='wasserstein', fids=())
  with open(os.path.join(root, 'study.json'), 'w') as f:
    json.dump({'study': 'seed', 'description': 'a test study', 'overrides': ['a=1'],
               'runs': [{'name': n, 'config': f'configs/{n}.py', 'set': ['a=1']}
                        for n in ('sagan_hinge', 'dcgan', 'wgan_clip', 'wgan_gp')],
               'status': {'wgan_clip': {'state': 'diverged', 'error': 'g/total became nan'}},
               'history': [{'time': 'T0', 'command': 'python -m jaxgan.study --study=seed'}]},
              f)
  return root


@pytest.mark.slow
def test_page_holds_every_run_table_figures_and_records(study_dir):
  page_path = report.build([study_dir])
  assert page_path == os.path.join(study_dir, 'report', 'index.html')
  page = open(page_path, encoding='utf-8').read()

  # Runs in study.json's order; a listed run without a workdir is reported as not started.
  order = [page.index(f'href="#run-{n}-samples"') for n in ('sagan_hinge', 'dcgan', 'wgan_clip',
                                                             'wgan_gp')]
  assert order == sorted(order)
  dcgan = _row(page, 'dcgan')
  assert dcgan[1] == 'finished (40/40 steps)'
  assert dcgan[2] == 'dcgan, digits 32x32' and dcgan[3] == 'hinge + 10 * &lt;gp&gt;'
  assert dcgan[4:7] == ['42.5 (step 40)', '42.5 (step 40)', '0.01 (step 40)']
  assert dcgan[7] == '250'                  # median of 100, 200, 300, 400 images/s
  assert dcgan[8] == '30 s'                 # 40 steps at 2 steps/s + two 5 s evaluations
  assert dcgan[9:12] == ['1.23 M', '4,321', 'live weights']
  assert 'abc1234def' in dcgan[12]
  sagan = _row(page, 'sagan_hinge')
  assert sagan[4:6] == ['30 (step 40)', '35 (step 40)']   # best_fid.json's step, final FID
  assert sagan[11].startswith('EMA (decay 0.999')
  wgan = _row(page, 'wgan_clip')
  assert wgan[1] == 'diverged (40/40 steps)' and wgan[4] == 'no FID logged'
  assert _row(page, 'wgan_gp')[1].startswith('not started')
  assert 'No FID logged by wgan_clip' in page
  assert '<p class="note">wgan_clip diverged: g/total became nan</p>' in page

  # Text from the runs is escaped; nothing is loaded from outside the page.
  assert '<gp>' not in page and '&lt;gp&gt;' in page
  assert not re.search(r'(src|href)="(https?:|file:|/)', page)
  assert '<script' not in page and '<link' not in page

  # Embedded images: every one a PNG; the final and best-FID grids and the attention map.
  images = re.findall(r'<img[^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
  assert len(images) >= 10
  assert all(base64.b64decode(b)[:8] == b'\x89PNG\r\n\x1a\n' for b in images)
  for caption in ('dcgan: final samples, step 40 (live weights)', 'dcgan: best FID 42.5 at step 40',
                  'sagan_hinge: final samples, step 40 (EMA (decay 0.999, from step 0))',
                  'sagan_hinge, step 40'):
    assert f'<figcaption>{caption}' in page, caption
  assert page.count('<figure class="wide"><img alt="sagan_hinge, step 40"') == 1   # attention

  # The reproducibility record and the exact config of each run.
  assert 'id="run-dcgan-repro"' in page and 'abc1234def5678' in page
  assert '&quot;ema_decay&quot;: 0.999' in page and 'flax 0.12.8' in page
  assert 'python -m jaxgan.study --study=seed' in page

  figures = os.path.join(study_dir, 'report', 'figures')
  names = sorted(os.listdir(figures))
  for name in ('generator_loss.png', 'critic_loss.png', 'fid.png', 'kid.png',
               'samples_final.png'):
    assert name in names
  assert len([n for n in names if n.startswith('losses_')]) == 3
  for name in names:
    _valid_png(os.path.join(figures, name))


def test_metrics_later_rows_win_and_wall_clock_skips_resume_pauses(study_dir):
  rows = report.read_metrics(os.path.join(study_dir, 'dcgan', 'metrics.jsonl'))
  assert rows[40]['g/total'] == 9.0 and rows[40]['eval/fid'] == 42.5 and 41 not in rows
  elapsed = report.wall_clock(rows)
  # 5 s per 10 steps, plus 5 s per evaluation; the 100 s pause before the resumed row is not
  # counted.
  np.testing.assert_allclose(elapsed.values, [5, 15, 20, 30])
  np.testing.assert_allclose(report.ema(np.array([1.0, 1.0, 1.0]), 0.9), [1, 1, 1])


def test_runs_without_fid_say_so(tmp_path):
  wd = _workdir(str(tmp_path), 'only_run', fids=())
  page = open(report.build([wd]), encoding='utf-8').read()
  assert 'No FID logged: no run wrote <code>eval/fid</code>' in page
  assert _row(page, 'only_run')[4] == 'no FID logged'
  assert not os.path.exists(os.path.join(wd, 'report', 'figures', 'fid.png'))
  assert os.path.exists(os.path.join(wd, 'report', 'figures', 'generator_loss.png'))


@pytest.mark.slow
def test_mixtures_runs_get_the_modes_table_and_scatter_plots(tmp_path):
  root = str(tmp_path)
  _workdir(root, 'ring_hinge', model='mlp', dataset='ring', fids=(), modes=[(6, 0.5), (7, 0.9)])
  _workdir(root, 'grid_hinge', model='mlp', dataset='grid', fids=(), modes=[(20, 0.6), (18, 0.8)])
  page = open(report.build([root]), encoding='utf-8').read()
  assert '<h2 id="mixtures">' in page
  ring = re.search(r'<tr><td>ring_hinge</td>.*?</tr>', page).group(0)
  assert 'ring (8 modes)' in ring and '7 / 8' in ring and '90.0' in ring
  grid = re.search(r'<tr><td>grid_hinge</td>.*?</tr>', page).group(0)
  assert '18 / 25' in grid and '80.0' in grid and '20 (step 20)' in grid
  assert '<figcaption>ring_hinge, step 20' in page      # the scatter plots over training
  assert 'id="fid"' not in page and 'best FID' not in page     # no FID for 2-D data
  _valid_png(os.path.join(root, 'report', 'figures', 'modes.png'))


@pytest.mark.slow
def test_several_workdirs_and_errors(tmp_path):
  a = _workdir(str(tmp_path / 'x'), 'run')
  b = _workdir(str(tmp_path / 'y'), 'run')
  page = open(report.build([a, b], str(tmp_path / 'out')), encoding='utf-8').read()
  assert 'x/run' in page and 'y/run' in page            # same names: the parent tells apart
  with pytest.raises(report.ReportError, match='--out'):
    report.build([a, b])
  with pytest.raises(report.ReportError, match='is not a directory'):
    report.build([str(tmp_path / 'missing')])
  with pytest.raises(report.ReportError, match='--compare names nope'):
    report.build([a], compare=['run', 'nope'])
  (tmp_path / 'empty').mkdir()
  with pytest.raises(report.ReportError, match='holds no training runs'):
    report.build([str(tmp_path / 'empty')])


@pytest.mark.slow
def test_command_line(study_dir, tmp_path):
  out = str(tmp_path / 'page')
  done = subprocess.run([sys.executable, '-m', 'jaxgan.report', study_dir, f'--out={out}'],
                        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
  assert done.returncode == 0, done.stderr
  assert f'Report: {out}/index.html' in done.stdout
  assert os.path.exists(os.path.join(out, 'figures', 'fid.png'))
  done = subprocess.run([sys.executable, '-m', 'jaxgan.report', str(tmp_path / 'nope')],
                        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
  assert done.returncode == 1
  assert done.stderr.strip().splitlines()[-1] == (
      f'error: {tmp_path / "nope"} is not a directory; pass a study directory (made by '
      f'python -m jaxgan.study) or training workdirs.')


# ---------------------------------------------------------------------------------------------
# Damaged inputs and unwritable outputs: a note on the run, or one sentence saying what to do.
# ---------------------------------------------------------------------------------------------

def _notes(page, run):
  return re.findall(rf'<p class="note">{re.escape(run)}: (.*?)</p>', page)


def test_binary_junk_in_metrics_is_skipped_and_counted(tmp_path):
  wd = _workdir(str(tmp_path), 'junk')
  junk = [np.random.default_rng(0).bytes(4000).replace(b'\n', b'') + b'\n',  # random bytes
          b'\xff\xfe{"step": 50, "g/total": 1.0}\n',                          # not UTF-8
          b'{"step": 60, "g/total": 1.0}\x00\x00\n', b'\x00' * 64 + b'\n',    # NUL bytes
          b'{"step": 1e999}\n', b'{"step": 70, "g/total": 1' + b'0' * 400 + b'}\n',  # overflow
          b'[' * 100_000 + b'\n', b'"step"\n', b'[1, 2]\n']                 # too deep, no object
  with open(os.path.join(wd, 'metrics.jsonl'), 'ab') as f:
    f.write(b'\n' + b''.join(junk))       # after the line the fixture cut short
  notes = []
  rows = report.read_metrics(os.path.join(wd, 'metrics.jsonl'), notes)
  assert sorted(rows) == [10, 20, 30, 40] and rows[40]['g/total'] == 9.0
  # Every junk line, and the line the fixture cut short.
  assert notes == [f'metrics.jsonl: {len(junk) + 1} unreadable line(s) skipped (cut short, not '
                   f'UTF-8 or not JSON).']
  page = open(report.build([wd]), encoding='utf-8').read()
  assert _notes(page, 'junk') == [notes[0]]
  assert _row(page, 'junk')[1] == 'finished (40/40 steps)'


def _damaged_png(path, how):
  _png(path, (10, 20, 30))
  data = open(path, 'rb').read()
  data = {'cut short': data[:len(data) // 2], 'not a PNG': b'<html>not found</html>',
          'empty': b'', 'bad data': data[:45] + bytes(20) + data[65:]}[how]
  with open(path, 'wb') as f:
    f.write(data)


@pytest.mark.slow
def test_damaged_pngs_are_skipped_with_a_note(tmp_path):
  root = str(tmp_path)
  bad = _workdir(root, 'bad', attention=True)
  _workdir(root, 'good')
  samples = os.path.join(bad, 'samples')
  _damaged_png(os.path.join(samples, 'step_0000040.png'), 'cut short')   # killed mid-write
  _damaged_png(os.path.join(samples, 'step_0000060.png'), 'not a PNG')
  _damaged_png(os.path.join(samples, 'best_fid.png'), 'empty')
  _damaged_png(os.path.join(bad, 'attention', 'step_0000040.png'), 'cut short')
  page = open(report.build([root]), encoding='utf-8').read()
  assert sorted(_notes(page, 'bad')) == sorted([
      'metrics.jsonl: 1 unreadable line(s) skipped (cut short, not UTF-8 or not JSON).',
      'samples/step_0000040.png is cut short (no end chunk); skipped.',
      'samples/step_0000060.png is not a PNG; skipped.',
      'samples/best_fid.png is empty; skipped.',
      'attention/step_0000040.png is cut short (no end chunk); skipped.'])
  # The last readable grid stands in as the final one; no best grid, no attention section.
  assert '<figcaption>bad: final samples, step 20 (live weights)' in page
  assert '<figcaption>bad: best' not in page and 'id="attention"' not in page
  _valid_png(os.path.join(root, 'report', 'figures', 'samples_final.png'))

  # A PNG whole at both ends but damaged inside: embedded as it is, left out of the montage.
  _damaged_png(os.path.join(samples, 'step_0000020.png'), 'bad data')
  page = open(report.build([root]), encoding='utf-8').read()
  assert '<figcaption>bad: final samples, step 20' in page
  assert re.search(r'<p class="note">bad, step 20: left out of figures/samples_final.png, its '
                   r'PNG does not decode \(.+\)\.</p>', page)
  _valid_png(os.path.join(root, 'report', 'figures', 'samples_final.png'))


def test_unreadable_inputs_name_the_file(tmp_path):
  # A folder where a file should be cannot be opened, even by root (unlike chmod 000).
  for name in ('metrics.jsonl', 'config.json', 'samples/step_0000060.png'):
    wd = _workdir(str(tmp_path / name.replace('/', '_')), 'run')
    path = os.path.join(wd, name)
    if os.path.exists(path):
      os.remove(path)
    os.makedirs(path)
    with pytest.raises(report.ReportError, match=rf'^cannot read {re.escape(path)} \(Is a '
                       rf'directory\); make it readable, or move it out of the way'):
      report.build([wd])


def test_out_folder_that_cannot_be_written(tmp_path):
  wd = _workdir(str(tmp_path), 'run')
  in_the_way = tmp_path / 'file'
  in_the_way.write_text('not a folder')
  for out in (in_the_way, in_the_way / 'report'):
    with pytest.raises(report.ReportError, match=rf'^cannot write the report to {re.escape(str(out))}'
                       rf': {re.escape(str(in_the_way))} is a file, not a folder; move it away '
                       rf'or pass --out=DIR'):
      report.build([wd], str(out))
  (tmp_path / 'out').mkdir()
  (tmp_path / 'out' / 'index.html').mkdir()             # the page's own path is a folder
  with pytest.raises(report.ReportError, match=r'index.html \(Is a directory\); pass --out=DIR'):
    report.build([wd], str(tmp_path / 'out'))

  read_only = tmp_path / 'read_only'
  read_only.mkdir()
  os.chmod(read_only, 0o500)
  try:
    if os.access(read_only, os.W_OK):
      pytest.skip('running as root: a read-only folder is writable')
    with pytest.raises(report.ReportError, match=r'figures \(Permission denied\); pass '
                       r'--out=DIR naming a folder you can write to\.$'):
      report.build([wd], str(read_only / 'report'))
    with pytest.raises(report.ReportError, match=r'Permission denied'):
      report.build([wd], str(read_only))             # exists: makedirs alone would pass
  finally:
    os.chmod(read_only, 0o700)


@pytest.mark.slow
def test_command_line_errors_are_one_line(tmp_path):
  wd = _workdir(str(tmp_path), 'run')
  (tmp_path / 'file').write_text('')
  command = [sys.executable, '-m', 'jaxgan.report', wd, f'--out={tmp_path / "file"}']
  env = {k: v for k, v in os.environ.items() if k != 'JAXGAN_TRACEBACK'}
  done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120,
                        check=False, env=env)
  assert done.returncode == 1 and 'Traceback' not in done.stderr
  assert done.stderr.strip().splitlines()[-1] == (
      f'error: cannot write the report to {tmp_path / "file"}: {tmp_path / "file"} is a file, '
      f'not a folder; move it away or pass --out=DIR naming another folder.')
  done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120,
                        check=False, env={**env, 'JAXGAN_TRACEBACK': '1'})
  assert done.returncode == 1 and 'Traceback' in done.stderr and 'ReportError' in done.stderr


# ---------------------------------------------------------------------------------------------
# best_fid.json names the metric the run keeps its best state by (config.eval.best_metric).
# ---------------------------------------------------------------------------------------------

def _best(wd, step, metric, value):
  with open(os.path.join(wd, 'best_fid.json'), 'w') as f:
    json.dump({'step': step, 'metric': metric, 'value': value, metric: value}, f)


@pytest.mark.slow
def test_best_value_is_labelled_with_its_metric(tmp_path):
  root = str(tmp_path)
  kid = _workdir(root, 'by_kid')
  _best(kid, 20, 'kid', 0.012)
  page = open(report.build([kid]), encoding='utf-8').read()
  assert '<th>best KID (step)</th>' in page
  assert _row(page, 'by_kid')[4] == '0.012 (step 20)'
  assert '<figcaption>by_kid: best KID 0.012 at step 20' in page

  # Runs that keep their best by different metrics: each cell names its own.
  _best(_workdir(root, 'by_fid'), 40, 'fid', 42.5)
  page = open(report.build([root]), encoding='utf-8').read()
  assert '<th>best metric (step)</th>' in page
  assert _row(page, 'by_kid')[4] == 'KID 0.012 (step 20)'
  assert _row(page, 'by_fid')[4] == 'FID 42.5 (step 40)'
  assert '<figcaption>by_fid: best FID 42.5 at step 40' in page


def _with_protocol(wd, record, *, best=True):
  """Gives a workdir's evaluation rows (and best_fid.json) a protocol record, as training now
  writes them."""
  path = os.path.join(wd, 'metrics.jsonl')
  lines = open(path).read().split('\n')[:-1]          # drop the line cut short
  rows = [json.loads(line) for line in lines]
  for row in rows:
    if 'eval/fid' in row:
      row['eval/protocol'] = record
  with open(path, 'w') as f:
    f.write('\n'.join(json.dumps(r) for r in rows) + '\n')
  if best:
    with open(os.path.join(wd, 'best_fid.json')) as f:
      saved = json.load(f)
    with open(os.path.join(wd, 'best_fid.json'), 'w') as f:
      json.dump({**saved, 'protocol': record}, f)
  with open(os.path.join(wd, 'run_info.json')) as f:
    info = json.load(f)
  with open(os.path.join(wd, 'run_info.json'), 'w') as f:
    json.dump({**info, 'evaluation': record}, f)


@pytest.mark.slow
def test_every_number_is_marked_with_its_protocol(tmp_path):
  """Equal protocols share a footnote, different ones get their own; numbers of runs that
  recorded none are unmarked and the footnotes say so; the repro block states the protocol."""
  record = {'num_fake': 8, 'num_real': 8, 'reference': {'source': 'digits-32px', 'split': 'all'},
            'resize': 'tf1_bilinear_299', 'weights_sha256': '7ff4a85c3a6378f0' + '0' * 48,
            'k': {'precision_recall': 3, 'density_coverage': 5},
            'kid': {'subsets': 100, 'subset_size': 1000, 'seed': 0}, 'is_splits': None,
            'jaxgan_version': '0.2.0'}
  root = str(tmp_path / 'runs')
  _with_protocol(_workdir(root, 'same_a'), record)
  _with_protocol(_workdir(root, 'same_b', fids=(60.0, 55.0)), record, best=False)
  os.remove(os.path.join(root, 'same_b', 'best_fid.json'))   # best from the logged rows
  _with_protocol(_workdir(root, 'more'), {**record, 'num_fake': 10_000, 'num_real': 1_797})
  _workdir(root, 'old')                                       # no protocol recorded
  page = open(report.build([root]), encoding='utf-8').read()
  # Runs in folder order: 'more' first, so its protocol is [1].
  assert _row(page, 'more')[4:7] == ['42.5 (step 40)[1]', '42.5 (step 40)[1]',
                                     '0.01 (step 40)[1]']
  assert _row(page, 'same_a')[4:7] == ['42.5 (step 40)[2]', '42.5 (step 40)[2]',
                                       '0.01 (step 40)[2]']
  assert _row(page, 'same_b')[4:6] == ['55 (step 40)[2]', '55 (step 40)[2]']
  assert _row(page, 'old')[4:7] == ['42.5 (step 40)', '42.5 (step 40)', '0.01 (step 40)']
  assert '<li id="protocol-1"><code>10,000 generated vs 1,797 real (digits-32px' in page
  assert ('<li id="protocol-2"><code>8 generated vs 8 real (digits-32px, split all), '
          'tf1_bilinear_299, weights 7ff4a85c3a63, k 3/5, KID 100 subsets of 1000 seed 0, '
          'jaxgan 0.2.0</code></li>') in page
  assert 'protocol-3' not in page
  assert 'Numbers without a mark: the run recorded no protocol' in page
  assert ('<td>evaluation protocol</td><td>8 generated vs 8 real (digits-32px, split all)'
          in page)
  assert '<td>evaluation protocol</td><td>not recorded</td>' in page
  # The curves still read the evaluation rows (the protocol object is not a number).
  assert report.load_run(os.path.join(root, 'same_a')).metrics['eval/fid'].last() == (40, 42.5)


def test_scores_of_jaxgan_evaluate_are_shown(tmp_path):
  """A run evaluated only by `python -m jaxgan.tools.evaluate` (its evaluations.jsonl, one line
  cut short): the results table's 'evaluated FID' cell (newest score, marked with its
  protocol) and every recorded score in the FID section, not 'No FID logged' alone."""
  wd = _workdir(str(tmp_path), 'evaluated', fids=())
  record = {'num_fake': 100, 'num_real': 100,
            'reference': {'source': 'digits-32px', 'split': 'all', 'seed': 1,
                          'num_examples': 1797},
            'generation': {'seed': 1, 'batch_size': 50, 'step': 40, 'ema': True},
            'resize': 'tf1_bilinear_299', 'weights_sha256': 'ab' * 32, 'k': None,
            'kid': {'subsets': 100, 'subset_size': 50, 'seed': 1}, 'is_splits': None,
            'jaxgan_version': '0.2.0'}
  rows = [{'time': 1.0, 'step': 20, 'checkpoint': 'step', 'ema': False, 'num': 100,
           'fid': 61.5, 'kid_mean': 0.05, 'kid_std': None, 'protocol': record},
          {'time': 2.0, 'step': 40, 'checkpoint': 'latest', 'ema': True, 'num': 100,
           'fid': 47.25, 'kid_mean': 0.03, 'kid_std': 0.002, 'protocol': record}]
  with open(os.path.join(wd, 'evaluations.jsonl'), 'w') as f:
    f.write(''.join(json.dumps(r) + '\n' for r in rows) + '{"step": 6')   # killed mid-line
  page = open(report.build([wd]), encoding='utf-8').read()
  assert '<th>evaluated FID (step)</th>' in page
  assert _row(page, 'evaluated')[4:8] == ['no FID logged', '–', '–', '47.25 (step 40, EMA)[1]']
  assert ('the scores <code>python -m jaxgan.tools.evaluate</code> recorded are below'
          in page)
  table = page[page.index('Scores of <code>python -m jaxgan.tools.evaluate'):]
  cells = [re.sub(r'<[^>]+>', '', c) for c in re.findall(r'<td[^>]*>(.*?)</td>', table)]
  assert cells[:7] == ['evaluated', '20', 'step', 'live', '100', '61.5', '0.05']
  assert cells[8:15] == ['evaluated', '40', 'latest', 'EMA', '100', '47.25', '0.03 ± 0.002']
  assert 'subset seed 1 of 1,797), step 40 EMA, latents seed 1 batch 50' in cells[15]
  assert 'evaluations.jsonl: 1 unreadable line(s) skipped' in page


@pytest.mark.slow
def test_learning_rates_get_their_own_panel_only_when_logged(tmp_path):
  """g/lr and d/lr are drawn on a panel of their own, never among the loss terms, and a run
  that logged no rate (an optimiser without an injected one) gets no rate panel at all."""
  from jaxgan.report import figures  # pylint: disable=g-import-not-at-top
  without = report.load_run(_workdir(str(tmp_path), 'no_lr'))
  assert 'learning rate' not in dict(figures.run_panels(without))
  wd = _workdir(str(tmp_path), 'with_lr')
  with open(os.path.join(wd, 'metrics.jsonl'), 'a') as f:
    f.write('\n' + '\n'.join(json.dumps({'step': s, 'g/lr': 2e-4, 'd/lr': 1e-4 * s / 40})
                             for s in (10, 20, 30, 40)) + '\n')
  panels = dict(figures.run_panels(report.load_run(wd)))
  assert sorted(panels['learning rate']) == ['d/lr', 'g/lr']
  assert not [k for title, keys in panels.items() if title != 'learning rate'
              for k in keys if k.endswith('/lr')]
  page = open(report.build([str(tmp_path)], out=str(tmp_path / 'out')), encoding='utf-8').read()
  assert ('<figcaption>with_lr: every logged loss term (smoothed; faint: raw); the learning '
          'rates on their own panel.</figcaption>') in page
  assert '<figcaption>no_lr: every logged loss term (smoothed; faint: raw).</figcaption>' in page


@pytest.mark.parametrize('metric, best', [
    ('fid', (30, 20.0)),              # lower is better (FidEvaluator.metrics)
    ('precision', (20, 60.0)),        # higher is better (PrdcEvaluator.metrics)
    ('inception_score_std', None),    # no direction: no best is picked
])
def test_best_from_the_logged_rows_follows_the_metric_s_declared_direction(tmp_path, metric,
                                                                          best):
  """Without best_fid.json the report picks the best logged value in the direction the
  metric's evaluator declares, as training does, and none for a metric without one."""
  wd = str(tmp_path / 'run')
  os.makedirs(wd)
  with open(os.path.join(wd, 'config.json'), 'w') as f:
    json.dump({'data': {'dataset': 'digits', 'image_size': 32},
               'eval': {'best_metric': metric}}, f)
  with open(os.path.join(wd, 'metrics.jsonl'), 'w') as f:
    for step, value in ((10, 40.0), (20, 60.0), (30, 20.0), (40, 60.0)):
      f.write(json.dumps({'step': step, f'eval/{metric}': value}) + '\n')
  run = report.runs.load_run(wd)
  found = report.runs.best_eval(run)
  if best is None:
    assert found is None
    assert report.runs.summary(run)['best'].startswith('no best: no evaluator says whether')
  else:
    assert (found.metric, found.step, found.value) == (metric, *best)
    assert report.runs.summary(run)['best'] == f'{best[1]:g} (step {best[0]})'
