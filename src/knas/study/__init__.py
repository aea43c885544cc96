"""The vision study's stages behind the Snakemake rules, one module each.

========================  ======================================================================
:mod:`.sample`            stage 2: the study's architectures (parsed by the workflow: no torch)
:mod:`.correlate`         stage 5: correlations, repeated sampling, rank groups, figures
:mod:`.select`            stage 6: the picks of KNAS top-k, NASWOT best-of-N and random
:mod:`.report`            stage 8: ``report.md``, KNAS Table 1, the proxy table
:mod:`.tables`            what they share: primary metric, set-level scores, directions
========================  ======================================================================

Scoring (:mod:`knas.scoring`), ground truth (:mod:`knas.truth`) and training (:mod:`knas.train`)
are stages 3, 4 and 7; the CLI commands live in :mod:`knas.cli.study`.
"""
from .sample import read_archs, sample_table

__all__ = ["read_archs", "sample_table"]
