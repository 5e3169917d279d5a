"""Compile C extensions on every core in the builder stage.

gssapi and krb5 (microsoft.ad) and pykerberos are sdists: pip compiles them one extension module
at a time, which is most of a cold build. setuptools' build_ext can compile modules in parallel
and reads that option from ~/.pydistutils.cfg, also inside pip's isolated builds. The file lives
in the builder stage only; the final image never has it. Measured on 2 cores: krb5 122 s -> 73 s.
"""
from __future__ import annotations

from .composition import Composition, Feature, Inputs

CONFIG = "/root/.pydistutils.cfg"


class ParallelCompile(Feature):
    def applies(self, settings) -> bool:
        return settings.build.parallel_compile

    def apply(self, comp: Composition, inputs: Inputs) -> None:
        # printf turns \n into newlines; nproc is read where the build runs.
        comp.prepend["builder"].append(f"RUN printf '[build_ext]\\nparallel = %s\\n' \"$(nproc)\" > {CONFIG}")


FEATURE = ParallelCompile()
