"""Studies: sweeps over configs that train many runs and tabulate what they reach.

  python -m jaxgan.study --study=seed --out=STUDY_DIR [--set key=value ...]   (runner.py)
  python -m jaxgan.study.mixtures ...     the 2-D mode-collapse benchmark table (mixtures.py)
  python -m jaxgan.report STUDY_DIR       the HTML report of a study's runs (jaxgan/report/)
"""
