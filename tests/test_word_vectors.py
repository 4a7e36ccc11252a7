"""The original study's word-vector classifier and the word vectors the book learns for it."""

import numpy as np
import torch

from tap.methods.lora import apply_lora
from tap.methods.parameter_counts import count_parameters
from tap.models.vector_classifier import WordVectorClassifier
from tap.models.word_vectors import cooccurrences, ppmi_svd


def test_words_used_alike_get_vectors_that_point_alike():
    # 0 "good", 1 "great", 2 "bad", 3 "awful", 4 "film", 5 "was", 6 "very", 7 "plot"
    rng = np.random.default_rng(0)
    documents = []
    for _ in range(400):
        praise, blame = rng.choice([0, 1]), rng.choice([2, 3])
        documents += [[4, 5, 6, praise], [7, 5, blame, blame]]
    vectors = ppmi_svd(cooccurrences(documents, vocab_size=8, window=2), dim=3)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    assert unit[0] @ unit[1] > 0.9 and unit[2] @ unit[3] > 0.9  # synonyms: the same contexts
    assert unit[0] @ unit[2] < unit[0] @ unit[1] - 0.3


def test_pairs_count_within_a_review_weighted_by_distance_and_never_across_reviews():
    counts = cooccurrences([[0, 1, 2], [3, 0]], vocab_size=4, window=2).toarray()
    assert np.allclose(counts, counts.T)
    assert counts[0, 1] == 1.0 and counts[0, 2] == 0.5 and counts[1, 2] == 1.0 and counts[0, 3] == 1.0
    assert counts[2, 3] == 0.0 and counts[1, 3] == 0.0  # 2 ends one review, 3 starts the next


def _classifier() -> WordVectorClassifier:
    torch.manual_seed(0)
    vectors = torch.cat([torch.zeros(2, 100), torch.randn(50, 100)])
    return WordVectorClassifier(vectors, num_classes=4)


def test_the_study_numbers_lora_on_fc1_trains_456_weights_at_rank_2_against_12800():
    model = _classifier()
    assert model.fc1.weight.numel() == 12_800
    ids = torch.tensor([[2, 3, 1, 0], [4, 4, 5, 6]])
    mask = ids != 0
    before = model(ids, mask)
    model.replace_head(2)
    apply_lora(model, ["fc1"], rank=2, alpha=2)
    lora = sum(p.numel() for n, p in model.named_parameters() if p.requires_grad and "fc1" in n)
    assert lora == 456
    assert count_parameters(model)["trainable_params"] == 456 + 128 * 2 + 2  # and the new head
    assert not model.embedding.weight.requires_grad
    assert before.shape == (2, 4)


def test_lora_starts_as_the_identity_and_unknown_words_and_padding_are_left_out():
    model = _classifier().eval()
    ids = torch.tensor([[2, 3, 1, 0, 0]])
    mask = ids != 0
    base = model(ids, mask)
    apply_lora(model, ["fc1"], rank=2, alpha=2)
    assert torch.equal(model(ids, mask), base)  # B starts at zero: the adapted model is the base model
    expected = model.embedding.weight[[2, 3]].mean(0)
    assert torch.allclose(model.mean_vector(ids, mask)[0], expected)


def test_a_profile_runs_the_headline_pair_again_with_the_vectors_it_compares(mirror, tmp_path, monkeypatch):
    """The `full` profile (GloVe) also runs IMDB alone and rank-2 LoRA with the book's vectors;
    here the smoke profile stands in, with a second, smaller set of trained vectors."""
    from tap.chapters import ch05_word_vectors as study
    from tap.core.profiles import get_profile
    from tap.models.word_vectors import VectorSource

    monkeypatch.setenv("TAP_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(study, "ALSO", {"smoke": VectorSource("imdb-ppmi-svd", max_words=300, min_count=2, dim=8)})
    outcome = study.study(get_profile("smoke"))
    pair = [name for name in outcome.records if "imdb-ppmi-svd vectors: " in name]
    assert len(pair) == 2
    words = study.facts(outcome)["wv_compared"]
    assert words.startswith("With word vectors learned by the book") and "instead" in words
    assert all(f"{100 * outcome.records[name]['test_accuracy']:.1f}%" in words for name in pair)
