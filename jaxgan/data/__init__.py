"""jaxgan.data as a package (being split by concern; see sources.py for now)."""

from jaxgan.data.sources import *  # pylint: disable=wildcard-import,unused-wildcard-import
