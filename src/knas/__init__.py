"""knas: training-free neural architecture search studies.

Sub-packages: ``nb201`` (search space and network), ``data`` (datasets), ``train``
(the NB201 training recipe), ``proxies`` (training-free scores, one module per paper),
``scoring`` (score many architectures with many proxies), ``truth``, ``analysis``, ``study``
(the workflow's stages), ``search``, ``text``, and ``cli`` (every ``knas`` command, one module per area).
"""

__version__ = "0.1.0"

