"""What counts as an int and as a real number in a value a user declares.

A sweep hands its grid's values over as numpy scalars (``np.int64(2)`` from ``np.random.choice([2, 4])``, a
pandas column's ``np.float32``), which torch computes with as it does with the Python numbers they stand for,
and which a hand-written module trains with. ``isinstance(value, int)`` and ``isinstance(value, float)`` tell
them apart from those numbers (``np.int64`` is no ``int``, ``np.float32`` no ``float``): a check asking so would
refuse a value torch trains, or let a numpy value out of range train where the same Python number is refused.
Every check of a declared number asks here instead, by ``numbers.Integral``/``numbers.Real`` (where numpy's
scalars register). A bool is no number here: ``True`` as a count or a rate is a mistake.
"""

from __future__ import annotations

import numbers
from typing import Any, TypeGuard


def is_int(value: Any) -> TypeGuard[int]:
    """Whether ``value`` is an int: a Python or numpy integer, not a bool.

    Example:
        >>> import numpy as np
        >>> [is_int(v) for v in (2, np.int64(2), np.int32(2), True, 2.0, np.float32(2.0))]
        [True, True, True, False, False, False]
    """
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value: Any) -> TypeGuard[float]:
    """Whether ``value`` is a real number: an int or a float, Python's or numpy's, not a bool.

    Example:
        >>> import numpy as np
        >>> [is_real(v) for v in (0.5, 2, np.float32(0.5), np.float64(0.5), np.int64(2), False, "0.5")]
        [True, True, True, True, True, False, False]
    """
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_float(value: Any) -> TypeGuard[float]:
    """Whether ``value`` is a real number that is not an int (where an int is a count, a float a fraction).

    Example:
        >>> import numpy as np
        >>> [is_float(v) for v in (0.25, np.float32(0.25), np.float64(0.25), 1, np.int64(1), True)]
        [True, True, True, False, False, False]
    """
    return is_real(value) and not isinstance(value, numbers.Integral)


def python_number(value: Any) -> Any:
    """``value`` as the Python int or float it stands for when it is a numpy one; anything else as it is.

    Example:
        >>> import numpy as np
        >>> python_number(np.int64(2)), python_number(np.float32(0.25)), python_number(True), python_number("a")
        (2, 0.25, True, 'a')
        >>> type(python_number(np.float64(0.5)))
        <class 'float'>
    """
    if type(value) in (int, float) or not is_real(value):
        return value
    return int(value) if is_int(value) else float(value)
