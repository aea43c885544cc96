"""Models and tokenizers for the text study: a pre-trained RoBERTa, or a tiny offline one.

``text.model``:

* ``roberta-large`` (or any RoBERTa checkpoint name or local directory, e.g. ``roberta-base``):
  ``AutoTokenizer`` / ``RobertaForSequenceClassification.from_pretrained`` from the Hugging Face cache
  or hub. The body is the pre-trained checkpoint; the classification head is new.
* ``tiny``: the offline **smoke configuration**: a RoBERTa built from a config (:class:`TinyConfig`:
  24 layers like RoBERTa-large, so the search space is the paper's, but hidden size 32) with random
  weights, and a word-level tokenizer built from the task's training sentences with the ``tokenizers``
  library (no hub). Its "pre-trained" body is the fixed random init of seed
  :data:`TINY_BODY_SEED`; results on it say nothing about RoBERTa.

In both cases the classification head is (re)initialised by :func:`reset_head` from ``seed`` (normal
``initializer_range`` weights, zero biases, as transformers' ``_init_weights``), so every candidate
of one seed starts from the same weights, and runs do not depend on the RNG state at load time.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Iterable

import torch
from torch import nn

TINY = "tiny"
TINY_BODY_SEED = 0
SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")  # ids 0..4, as RoBERTa's vocabulary


@dataclass(frozen=True)
class TinyConfig:
    """Shape of the tiny smoke RoBERTa (random weights)."""

    num_hidden_layers: int = 24  # as RoBERTa-large: the 30 candidates are the paper's wirings
    hidden_size: int = 32
    num_attention_heads: int = 2
    intermediate_size: int = 64
    hidden_dropout_prob: float = 0.1  # RoBERTa's defaults
    attention_probs_dropout_prob: float = 0.1


DEFAULT_TINY = TinyConfig()  # the shape ``text.model: tiny`` builds


# -----------------------------------------------------------------------------------------------
# tokenizer
# -----------------------------------------------------------------------------------------------
def build_word_tokenizer(texts: Iterable[str], *, max_vocab: int | None = None, model_max_length: int = 512):
    """A word-level ``PreTrainedTokenizerFast`` with RoBERTa's special tokens and pair template.

    Lower-cased, split on whitespace and punctuation (``BertPreTokenizer``); vocabulary: the special
    tokens ``<s> <pad> </s> <unk> <mask>`` (ids 0-4, as RoBERTa) then the words of ``texts`` by
    decreasing count, ties by the word (deterministic). Pairs are encoded as RoBERTa's
    ``<s> A </s></s> B </s>``.
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    pre = pre_tokenizers.BertPreTokenizer()
    counts: Counter[str] = Counter()
    for t in texts:
        counts.update(w for w, _ in pre.pre_tokenize_str(normalizer.normalize_str(t)))
    words = sorted((w for w in counts if w not in SPECIAL_TOKENS), key=lambda w: (-counts[w], w))
    if max_vocab is not None:
        words = words[: max(0, max_vocab - len(SPECIAL_TOKENS))]
    if not words:
        raise ValueError("cannot build a tokenizer from an empty corpus")
    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS + tuple(words))}
    tk = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tk.normalizer = normalizer
    tk.pre_tokenizer = pre
    tk.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", vocab["<s>"]), ("</s>", vocab["</s>"])],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tk,
        bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>", mask_token="<mask>",
        cls_token="<s>", sep_token="</s>", model_max_length=model_max_length,
    )


def encode_rows(tokenizer, rows: list[dict], max_length: int) -> list[dict]:
    """Tokenise sentence pairs (truncation ``longest_first`` to ``max_length``, no padding).

    Returns one dict per row: ``input_ids`` (list of int) and ``label``.
    """
    if not rows:
        raise ValueError("no rows to encode")
    enc = tokenizer(
        [r["sentence1"] for r in rows], [r["sentence2"] for r in rows],
        truncation=True, max_length=max_length, padding=False,
    )
    return [{"input_ids": ids, "label": int(r["label"])} for ids, r in zip(enc["input_ids"], rows)]


def collate(examples: list[dict], pad_id: int, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """Pad encoded examples to the longest one: ``input_ids``/``attention_mask`` ``(B, T)``, ``labels`` ``(B,)``."""
    T = max(len(e["input_ids"]) for e in examples)
    ids = torch.full((len(examples), T), pad_id, dtype=torch.long)
    mask = torch.zeros((len(examples), T), dtype=torch.long)
    for i, e in enumerate(examples):
        n = len(e["input_ids"])
        ids[i, :n] = torch.tensor(e["input_ids"], dtype=torch.long)
        mask[i, :n] = 1
    labels = torch.tensor([e["label"] for e in examples], dtype=torch.long)
    return {"input_ids": ids.to(device), "attention_mask": mask.to(device), "labels": labels.to(device)}


# -----------------------------------------------------------------------------------------------
# models
# -----------------------------------------------------------------------------------------------
def tiny_model(vocab_size: int, *, num_labels: int = 2, max_length: int = 128, pad_token_id: int = 1,
               config: TinyConfig | None = None) -> nn.Module:
    """A ``RobertaForSequenceClassification`` of shape ``config`` (default :data:`DEFAULT_TINY`), random
    body of seed :data:`TINY_BODY_SEED` (the global RNG is left as it was)."""
    from transformers import RobertaConfig, RobertaForSequenceClassification

    config = config or DEFAULT_TINY
    cfg = RobertaConfig(
        vocab_size=vocab_size,
        num_hidden_layers=config.num_hidden_layers,
        hidden_size=config.hidden_size,
        num_attention_heads=config.num_attention_heads,
        intermediate_size=config.intermediate_size,
        hidden_dropout_prob=config.hidden_dropout_prob,
        attention_probs_dropout_prob=config.attention_probs_dropout_prob,
        max_position_embeddings=max_length + pad_token_id + 1,  # RoBERTa positions start at pad_id + 1
        type_vocab_size=1,
        pad_token_id=pad_token_id, bos_token_id=0, eos_token_id=2,
        num_labels=num_labels,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TINY_BODY_SEED)
        return RobertaForSequenceClassification(cfg)


@torch.no_grad()
def reset_head(model: nn.Module, seed: int) -> None:
    """Re-initialise the classification head from ``seed`` (CPU generator, so any device agrees):
    Linear weights ~ N(0, config.initializer_range), biases 0 (transformers' ``_init_weights``)."""
    head = getattr(model, "classifier", None)
    if head is None:
        raise ValueError(f"{type(model).__name__} has no classification head ('classifier')")
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    std = model.config.initializer_range
    for mod in head.modules():
        if isinstance(mod, nn.Linear):
            w = torch.randn(mod.weight.shape, generator=gen, dtype=torch.float32) * std
            mod.weight.copy_(w.to(mod.weight))
            if mod.bias is not None:
                mod.bias.zero_()


def load_model_and_tokenizer(
    name: str,
    *,
    train_rows: list[dict] | None = None,
    num_labels: int = 2,
    seed: int = 0,
    max_length: int = 128,
    device: torch.device | str = "cpu",
):
    """``(model, tokenizer)`` for ``name`` (``tiny`` or a RoBERTa checkpoint), head from ``seed``, on ``device``.

    ``tiny`` needs ``train_rows`` (its tokenizer's vocabulary is built from their sentences).
    The model is returned in eval mode.
    """
    if not isinstance(max_length, int) or max_length < 8:
        raise ValueError(f"max_length must be an integer >= 8, got {max_length!r}")
    if name == TINY:
        if not train_rows:
            raise ValueError("model 'tiny' builds its tokenizer from the training rows: pass train_rows")
        tok = build_word_tokenizer(
            (s for r in train_rows for s in (r["sentence1"], r["sentence2"])), model_max_length=max_length
        )
        model = tiny_model(len(tok), num_labels=num_labels, max_length=max_length, pad_token_id=tok.pad_token_id)
    else:
        model, tok = _load_pretrained(name, num_labels)
        limit = model.config.max_position_embeddings - model.config.pad_token_id - 1
        if max_length > limit:
            raise ValueError(f"max_length={max_length} exceeds what {name!r} supports ({limit})")
    reset_head(model, seed)
    model.to(device)
    model.eval()
    return model, tok


def _load_pretrained(name: str, num_labels: int):
    from transformers import AutoConfig, AutoTokenizer, RobertaForSequenceClassification

    try:
        cfg = AutoConfig.from_pretrained(name)
    except OSError as err:
        raise RuntimeError(
            f"could not load model {name!r} from the Hugging Face cache or hub ({err}); offline, pre-download it "
            f"into the cache (HF_HOME) or use text.model: {TINY} (the smoke configuration)"
        ) from err
    if cfg.model_type != "roberta":
        raise ValueError(f"model {name!r} is a {cfg.model_type!r} model; the text study rewires RoBERTa models only")
    tok = AutoTokenizer.from_pretrained(name)
    model = RobertaForSequenceClassification.from_pretrained(name, num_labels=num_labels)
    return model, tok
