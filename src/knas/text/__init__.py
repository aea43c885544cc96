"""The text study (KNAS, text classification): skip-connection search on a pre-trained RoBERTa.

The 24 encoder layers of RoBERTa-large are rewired (highway / look-ahead / DenseNet cells of
L = 2..11 layers: 30 candidates, no parameter added), every candidate is scored with MGM on a batch of
the task's training data, the top-k are fine-tuned on GLUE MRPC or RTE and compared with the
unmodified model.

Modules: :mod:`.wiring` (the search space and the rewired encoder), :mod:`.data` (GLUE TSVs /
``datasets`` / the generated smoke task), :mod:`.model` (pre-trained or tiny offline RoBERTa and
tokenizer), :mod:`.score` (MGM per candidate), :mod:`.finetune` (fine-tuning, dev accuracy),
:mod:`.summary` (mean/std over seeds), :mod:`.report` (KNAS Table 2 as Markdown). The ``knas text-*``
commands are in :mod:`knas.cli.text`.

transformers is imported only when a model is built, so importing this package is cheap.
"""
from .data import TASKS, load_task, make_smoke_task, read_mrpc_tsv, read_rte_tsv, write_task
from .wiring import LENGTHS, STRUCTURES, RewiredRobertaEncoder, Wiring, candidates, get_wiring, rewire

__all__ = [
    "LENGTHS", "STRUCTURES", "TASKS", "RewiredRobertaEncoder", "Wiring", "candidates",
    "get_wiring", "load_task", "make_smoke_task", "read_mrpc_tsv", "read_rte_tsv", "rewire", "write_task",
]
