"""knas: training-free neural architecture search studies.

Sub-packages: ``nb201`` (search space and network), ``data`` (datasets), ``train``
(the NB201 training recipe), ``proxies`` (training-free scores, one module per paper),
``scoring`` (score many architectures with many proxies), ``analysis``, ``search``, ``text``.
"""

__version__ = "0.1.0"

