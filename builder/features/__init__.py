"""Features composed around the user's definition, in the order ``FEATURES`` gives.

Each feature module holds one ``FEATURE`` (a ``Feature``): it adds steps, files, options or build
arguments to a ``Composition``, may refuse a definition, and may name what the built image must
show. Compose, the build and the publishing gate loop over ``FEATURES``; adding a feature is one
module and one line here.

Feature steps go before the user's ``prepend_*`` steps and after the user's ``append_*`` steps,
in this order, so set-up runs first and clean-up last.
"""
from __future__ import annotations

from . import collections, family, kerberos, manifest, parallel_compile, receptor, trust, wheel_cache
from .composition import STAGES, Composition, Feature, ImageCheck, Inputs

FEATURES: tuple[Feature, ...] = (
    family.FEATURE,            # first: the package front and Python every later step installs with
    trust.FEATURE,             # CAs, proxies and the pip index before anything is downloaded
    collections.FEATURE,       # offline collections for the galaxy stage
    parallel_compile.FEATURE,  # before the kept wheels: this step never changes, their COPY now and then
    wheel_cache.FEATURE,
    receptor.FEATURE,          # before Kerberos: a new realm should not recopy receptor
    kerberos.FEATURE,          # last content: editing the realms rebuilds only the final COPY
    manifest.FEATURE,          # last: it records everything before it
)

__all__ = ["FEATURES", "STAGES", "Composition", "Feature", "ImageCheck", "Inputs"]
