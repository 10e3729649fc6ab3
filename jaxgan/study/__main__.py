"""Runs a named study: python -m jaxgan.study --study=seed --out=STUDY_DIR [--set k=v ...].

  python -m jaxgan.study --study=seed --out=runs/seed --set data.dataset=digits \\
      --set data.image_size=32 --set train.num_steps=2000 --set log.every_steps=50
  python -m jaxgan.study --study=mixtures --out=runs/mixtures --runs=ring_hinge,grid_hinge
  python -m jaxgan.study --list

Rerunning the same command resumes an interrupted study (finished runs are skipped). Then
`python -m jaxgan.report STUDY_DIR` writes the report. See jaxgan/study/runner.py.
"""

import shlex
import sys
from typing import Sequence

from absl import app
from absl import flags

from jaxgan.study import runner
from jaxgan.tools import common


def _define_flags() -> None:
  """Defines the command-line flags (only when run as a program, so importing never clashes)."""
  flags.DEFINE_string('study', None, f'Study name: {", ".join(runner.STUDIES)}.')
  flags.DEFINE_string('out', None, 'Study directory: one workdir per run, and study.json.')
  flags.DEFINE_multi_string(
      'set', [], '[RUNS:]key=value: overrides config.key of every run (or of the runs named '
      'or fnmatch-matched by the comma-separated RUNS), e.g. train.num_steps=200 or '
      'sagan_*:model.g_width=16. Repeat for several.')
  flags.DEFINE_list('runs', [], 'Train only these runs of the study (default: all).')
  flags.DEFINE_bool('list', False, 'Print the studies and their runs, then exit.')
  flags.DEFINE_string('configs', runner.DEFAULT_CONFIGS,
                      'Folder of the config files the study\'s runs name (the repository\'s '
                      'configs/).')


def _list_studies() -> None:
  for name in runner.STUDIES:
    study = runner.get_study(name)
    print(f'{name}: {study.description}')
    for run in study.runs:
      extra = ' '.join(f'{k}={v}' for k, v in run.overrides.items())
      print(f'  {run.name:24s} {run.config}{"  " + extra if extra else ""}')


def main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {" ".join(argv[1:])}')
  f = flags.FLAGS
  if f.list:
    _list_studies()
    return
  # Runs of a study, and a resumed study, compile the same steps again: reuse them.
  common.use_default_compilation_cache()
  with common.user_errors():
    if not f.study or not f.out:
      raise runner.StudyError('pass --study (one of '
                              f'{", ".join(runner.STUDIES)}) and --out=STUDY_DIR.')
    study = runner.select_runs(runner.get_study(f.study), f.runs)
    overrides = runner.parse_overrides(f.set)
    command = 'python -m jaxgan.study ' + ' '.join(shlex.quote(a) for a in sys.argv[1:])
    statuses = runner.run_study(study, f.out, overrides, command=command,
                                configs_dir=f.configs)
  failed = [name for name, s in statuses.items() if s['state'] != 'finished']
  print(f'Study {study.name!r} in {f.out}: {len(statuses) - len(failed)} of {len(statuses)} '
        f'runs finished. Report: python -m jaxgan.report {shlex.quote(f.out)}')
  if failed:
    raise SystemExit(f'error: {", ".join(failed)} diverged (see {f.out}/study.json); the '
                     f'other runs finished.')


def cli() -> None:
  _define_flags()
  common.run(main)


if __name__ == '__main__':
  cli()
