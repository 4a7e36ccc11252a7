import torch

from tap.data.text import EncodedDataset, Vocabulary, clean, pad_batch, words


def test_html_breaks_are_cleaned():
    assert clean("Great film.<br /><br />Loved it<BR>") == "great film.  loved it "
    assert "br" not in words("one<br />two")


def test_vocabulary_is_deterministic_and_maps_unknown_words_to_1():
    texts = ["b a a c", "a b d", "c b"]
    v = Vocabulary.build(texts, max_size=10, min_freq=2)
    assert v.itos == ["<pad>", "<unk>", "a", "b", "c"]  # ties broken alphabetically
    assert v.encode("a zebra c", max_len=10) == [2, 1, 4]
    assert v.encode("a b c a b c", max_len=4) == [2, 3, 4, 2]
    assert abs(v.unknown_rate(["a zebra"]) - 0.5) < 1e-9


def test_dynamic_padding_pads_to_the_longest_in_the_batch():
    ids, mask = pad_batch([[5, 6, 7], [8]])
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]]
    assert mask.tolist() == [[True, True, True], [True, False, False]]


def test_batches_cover_every_example_once_and_shuffle_with_the_seed():
    ds = EncodedDataset([[i + 2] * (i % 5 + 1) for i in range(37)], [i % 2 for i in range(37)])
    seen = [
        ids[m].tolist()
        for inputs, _ in ds.batches(8, shuffle=True, seed=1)
        for ids, m in zip(inputs["input_ids"], inputs["attention_mask"])
    ]
    assert sorted(s[0] for s in seen) == list(range(2, 39))
    again = [b[0]["input_ids"].tolist() for b in ds.batches(8, shuffle=True, seed=1)]
    assert again == [b[0]["input_ids"].tolist() for b in ds.batches(8, shuffle=True, seed=1)]
    assert again != [b[0]["input_ids"].tolist() for b in ds.batches(8, shuffle=True, seed=2)]


def test_review_with_no_known_word_keeps_one_token():
    v = Vocabulary.build(["a a"], max_size=5)
    ds = EncodedDataset.from_texts(["zzz"], [0], v, max_len=8)
    assert ds.ids == [[1]]
    assert isinstance(next(ds.batches(1, shuffle=False))[1], torch.Tensor)


def test_unshuffled_batches_keep_the_split_order_unless_asked_to_sort_by_length():
    ds = EncodedDataset([[7] * n for n in (3, 1, 4, 1, 5)], [0, 1, 0, 1, 0])
    lengths = [m.sum(1).tolist() for inputs, _ in ds.batches(2, shuffle=False) for m in [inputs["attention_mask"]]]
    assert lengths == [[3, 1], [4, 1], [5]]
    by_length = [
        (inputs["attention_mask"].shape[1], labels.tolist()) for inputs, labels in ds.batches(2, False, by_length=True)
    ]
    assert by_length == [(1, [1, 1]), (4, [0, 0]), (5, [0])]  # padding only to 1, 4 and 5 tokens
