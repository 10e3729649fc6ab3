"""The report's command line: python -m jaxgan.report STUDY_DIR | WORKDIR... [--out=DIR].

  python -m jaxgan.report runs/seed                        # runs/seed/report/index.html
  python -m jaxgan.report runs/a runs/b --out=/tmp/ab --compare=a,b --smoothing=0.9

A problem with the inputs or the output folder is printed as one `error: ...` line (exit
status 1); JAXGAN_TRACEBACK=1 raises it instead, with its traceback, for debugging.
"""

import os
from typing import Sequence

from absl import flags

from jaxgan import report
from jaxgan.tools import common


def _define_flags() -> None:
  """Defines the command-line flags (only when run as a program, so importing never clashes)."""
  flags.DEFINE_string('out', None, 'Folder for index.html and figures/ (default: '
                      'STUDY_DIR/report; required for several workdirs).')
  flags.DEFINE_float('smoothing', report.DEFAULT_SMOOTHING,
                     'EMA weight of the smoothed loss curves, in [0, 1).')
  flags.DEFINE_list('compare', [], 'Runs of the generator / critic loss comparison (the '
                    'seed\'s Figure 3; default: all runs).')


def main(argv: Sequence[str]) -> None:
  f = flags.FLAGS
  with common.user_errors():
    page = report.build(argv[1:], f.out, smoothing=f.smoothing, compare=f.compare)
  print(f'Report: {page} (figures in {os.path.join(os.path.dirname(page), "figures")})')


def cli() -> None:
  _define_flags()
  common.run(main)


if __name__ == '__main__':
  cli()
