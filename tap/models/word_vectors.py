"""Word vectors for the original study's classifier (chapter 05), learned by the book from
IMDB's unlabelled reviews, or GloVe (Pennington et al., 2014) from the Hub in the `full` profile.

The book's vectors are count-based, like GloVe: count how often each pair of words occurs
within a few words of each other, weigh each count by how much more often the pair occurs than
chance would have it (positive pointwise mutual information, PPMI), and keep the 100 strongest
directions of that matrix (a truncated SVD). Levy, Goldberg and Dagan (2015) found such vectors
a match for word2vec's and GloVe's on word-similarity tasks when trained on the same text; here
they are trained on tens of millions of words where GloVe saw six billion.
"""

from __future__ import annotations

import sys
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from scipy import sparse
from sklearn.utils.extmath import randomized_svd

from ..core.cache import cached_folder, source_digest
from ..core.hub import hub_available, revision
from ..core.measure import timer
from ..core.profiles import Profile, get_profile
from ..data import subwords, text
from ..data.text import PAD, UNK, Vocabulary
from .pretrained import ModelUnavailableError

GLOVE_REPO, GLOVE_ARCHIVE, GLOVE_FILE = "stanfordnlp/glove", "glove.6B.zip", "glove.6B.100d.txt"


@dataclass(frozen=True)
class VectorSource:
    """Where a profile's word vectors come from; part of the cache key."""

    kind: str  # "imdb-ppmi-svd" (trained here) or "glove-6b-100d" (Hub)
    max_words: int = 20_000  # vocabulary: the most frequent words (trained vectors)
    min_count: int = 5
    window: int = 5  # words either side that count as context
    dim: int = 100


VECTORS = {
    "smoke": VectorSource("imdb-ppmi-svd", max_words=1_000, min_count=2, dim=16),
    "book": VectorSource("imdb-ppmi-svd"),
    "full": VectorSource("glove-6b-100d"),
}


@dataclass
class WordVectors:
    """A vocabulary (ids 0 and 1: padding and unknown words, zero vectors) and one row per id."""

    vocab: Vocabulary
    vectors: torch.Tensor  # [len(vocab), dim]
    record: dict  # where they came from, and how long they took


def cooccurrences(documents: list[list[int]], vocab_size: int, window: int) -> sparse.csr_matrix:
    """How often each pair of words occurs within ``window`` words of each other in one
    document, each occurrence weighted 1/distance (as GloVe counts): a symmetric
    ``[vocab_size, vocab_size]`` matrix. ``documents`` hold ids in ``[0, vocab_size)``."""
    ids = np.concatenate([np.append(np.asarray(d, dtype=np.int64), -1) for d in documents])  # -1 ends a document
    document = np.cumsum(ids < 0)
    counts = sparse.csr_matrix((vocab_size, vocab_size), dtype=np.float64)
    for distance in range(1, window + 1):
        left, right = ids[:-distance], ids[distance:]
        keep = (left >= 0) & (right >= 0) & (document[:-distance] == document[distance:])
        pairs = sparse.coo_matrix(
            (np.full(int(keep.sum()), 1.0 / distance), (left[keep], right[keep])), shape=(vocab_size, vocab_size)
        ).tocsr()
        counts = counts + pairs + pairs.T
    return counts


def ppmi_svd(counts: sparse.spmatrix, dim: int, seed: int = 0) -> np.ndarray:
    """Vectors from co-occurrence ``counts``: positive PMI with the context distribution
    smoothed (counts^0.75, Levy et al.), then the top ``dim`` singular directions, each word's
    vector U·√S."""
    word = np.asarray(counts.sum(1)).ravel()
    context = word**0.75
    coo = counts.tocoo()
    # PMI = log P(w, c) / (P(w) · P_0.75(c)); the total count cancels out
    pmi = np.log(coo.data) - np.log(word[coo.row]) - np.log(context[coo.col]) + np.log(context.sum())
    positive = pmi > 0
    ppmi = sparse.csr_matrix((pmi[positive], (coo.row[positive], coo.col[positive])), shape=counts.shape)
    u, s, _ = randomized_svd(ppmi, dim, n_iter=5, random_state=seed)
    return (u * np.sqrt(s)).astype(np.float32)


def _trained(source: VectorSource, profile: Profile, folder: Path) -> dict:
    reviews, _ = subwords.unlabelled_texts(profile)  # chapter 03's training reviews, its held-out ones kept apart
    with timer() as clock:
        vocab = Vocabulary.build(reviews, max_size=source.max_words + 2, min_freq=source.min_count)
        known = vocab.stoi
        documents = [[known[w] - 2 for w in text.words(r) if w in known] for r in reviews]  # ids from 0
        vectors = ppmi_svd(cooccurrences(documents, len(vocab) - 2, source.window), source.dim)
    _save(folder, vocab.itos[2:], vectors)
    return {"reviews": len(reviews), "tokens": sum(len(d) for d in documents), "wall_time_s": clock["seconds"]}


def _glove(folder: Path) -> dict:
    from huggingface_hub import hf_hub_download

    archive = hf_hub_download(GLOVE_REPO, GLOVE_ARCHIVE, revision=revision(GLOVE_REPO))
    words, rows = [], []
    with zipfile.ZipFile(archive) as z, z.open(GLOVE_FILE) as f:
        for line in f:
            word, *values = line.decode("utf-8").rstrip().split(" ")
            words.append(word)
            rows.append(np.asarray(values, dtype=np.float32))
    _save(folder, words, np.stack(rows))
    return {"source": f"{GLOVE_REPO} ({GLOVE_ARCHIVE}: {GLOVE_FILE})"}


def _save(folder: Path, words: list[str], vectors: np.ndarray) -> None:
    (folder / "words.txt").write_text("\n".join(words))
    save_file({"vectors": torch.from_numpy(vectors)}, folder / "vectors.safetensors")


def word_vectors(profile: Profile | None = None, source: VectorSource | None = None) -> WordVectors:
    """The profile's word vectors, or ``source``'s (cached): trained here in `smoke` and `book`,
    GloVe-6B-100d from the Hub at a pinned revision in `full` (offline, a clear error)."""
    p = profile or get_profile()
    source = source or VECTORS[p.name]
    config = {
        "profile": p.name,
        "source": asdict(source),
        "code": source_digest(text, subwords, sys.modules[__name__]),
    }
    if source.kind == "glove-6b-100d":
        if not hub_available():
            raise ModelUnavailableError(
                f"The {p.name!r} profile uses GloVe word vectors from {GLOVE_REPO!r} on the Hugging Face Hub, "
                "which is unreachable here (or HF_HUB_OFFLINE is set): connect to the Hub, or build with "
                "TAP_PROFILE=book, which trains its own word vectors."
            )
        folder, record = cached_folder("word-vectors-glove", config, _glove)
    else:
        folder, record = cached_folder("word-vectors-imdb", config, lambda tmp: _trained(source, p, tmp))
    words = (folder / "words.txt").read_text().split("\n")
    found = load_file(folder / "vectors.safetensors")["vectors"]
    vectors = torch.cat([torch.zeros(2, found.shape[1]), found])  # padding and unknown words: no vector
    return WordVectors(Vocabulary([PAD, UNK, *words]), vectors, record)


def nearest(vectors: WordVectors, word: str, k: int = 5) -> list[str]:
    """The ``k`` words whose vectors point most nearly the same way as ``word``'s (cosine)."""
    if word not in vectors.vocab.stoi:
        raise ValueError(f"{word!r} has no vector: it is not among the {len(vectors.vocab) - 2:,} words kept.")
    unit = torch.nn.functional.normalize(vectors.vectors, dim=1)
    scores = unit @ unit[vectors.vocab.stoi[word]]
    scores[:2] = -2  # padding and unknown
    scores[vectors.vocab.stoi[word]] = -2
    return [vectors.vocab.itos[i] for i in scores.topk(k).indices.tolist()]
