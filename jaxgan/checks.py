"""The one check of a config number: its type (an int or float, never a bool) and its range.

  batch_size = checks.number('train.batch_size', config.train.batch_size, integer=True, low=1)
  b1 = checks.number('optim.b1', config.optim.b1, low=0, high=1, high_open=True,
                     hint=' (Adam\'s beta1), e.g. 0.5')

Every module that reads a number from a config checks it here, where it reads it, so a refusal
reads the same everywhere: one sentence naming the key, the value and the range to set, e.g.
"config.train.batch_size=0 must be an integer >= 1." A leaf module (it imports only
`errors`), so that any part can import it without an import cycle. Hand-written rather than
ml_collections' field types: those check the type when a value is set, not its range, and let
an int stand in a float field.
"""

from typing import Optional, Union

from jaxgan import errors

Number = Union[int, float]


def describe(*, integer: bool = False, low: Optional[Number] = None,
             high: Optional[Number] = None, low_open: bool = False,
             high_open: bool = False) -> str:
  """What a value must be, e.g. 'an integer >= 1', 'a number > 0' or 'in [0, 1)'."""
  kind = 'an integer' if integer else 'a number'
  if low is not None and high is not None:
    interval = f'{"(" if low_open else "["}{low}, {high}{")" if high_open else "]"}'
    return f'{kind} in {interval}' if integer else f'in {interval}'
  if low is not None:
    return f'{kind} {">" if low_open else ">="} {low}'
  if high is not None:
    return f'{kind} {"<" if high_open else "<="} {high}'
  return kind


def number(key: str, value, *, integer: bool = False, low: Optional[Number] = None,
           high: Optional[Number] = None, low_open: bool = False, high_open: bool = False,
           hint: str = '', prefix: str = 'config.') -> Number:
  """`value` of the config key `key` ('train.batch_size'), checked; ConfigError otherwise.

  integer: an int is required (a float is refused); otherwise an int or a float. A bool is
  never a number here (True would pass as 1). low / high: the bounds, inclusive unless
  low_open / high_open. hint: text added to the sentence before its full stop, e.g.
  ' (ADA: 0.6)'. prefix: what the sentence puts before `key` (the value of a field set in
  code, e.g. `Loop.num_steps`: ''). Returns the value unchanged.
  """
  kinds = (int,) if integer else (int, float)
  ok = isinstance(value, kinds) and not isinstance(value, bool)
  if ok and low is not None:
    ok = value > low if low_open else value >= low
  if ok and high is not None:
    ok = value < high if high_open else value <= high
  if not ok:   # NaN fails every comparison above, so it lands here too
    what = describe(integer=integer, low=low, high=high, low_open=low_open,
                    high_open=high_open)
    raise errors.ConfigError(f'{prefix}{key}={value!r} must be {what}{hint}.')
  return value
