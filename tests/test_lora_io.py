"""Saving and loading a LoRA (tap/methods/lora_io.py): tap -> tap, tap -> PEFT, PEFT -> tap, and the errors.

Every round trip is checked against a model whose output the adapter really changes (random B,
a retrained head): a loader that dropped the factors or the head would fail."""

import json

import pytest
import torch
from torch import nn

from tap.methods import lora, lora_io
from tap.models.encoder import EncoderSize, TransformerClassifier

pytest.importorskip("peft")
from peft import LoraConfig, PeftModel, get_peft_model  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from transformers import BertConfig, BertForSequenceClassification  # noqa: E402

CONFIG = BertConfig(
    vocab_size=50,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=64,
    max_position_embeddings=32,
    num_labels=2,
)


def bert(seed: int = 0, config: BertConfig = CONFIG) -> BertForSequenceClassification:
    """The same tiny random BERT for the same seed: the "base model" a task's adapter belongs to."""
    torch.manual_seed(seed)
    return BertForSequenceClassification(config).eval()


def inputs(n: int = 3, t: int = 10) -> dict:
    g = torch.Generator().manual_seed(1)
    mask = torch.ones(n, t, dtype=torch.long)
    mask[1, t // 2 :] = 0
    return {"input_ids": torch.randint(1, 50, (n, t), generator=g), "attention_mask": mask}


@torch.no_grad()
def logits(model: nn.Module, bool_mask: bool = False) -> torch.Tensor:
    batch = inputs()
    if bool_mask:  # tap's encoder takes a boolean mask
        batch["attention_mask"] = batch["attention_mask"].bool()
    out = model.eval()(**batch)
    return out.logits if hasattr(out, "logits") else out


@torch.no_grad()
def trained(model: nn.Module, seed: int = 2) -> nn.Module:
    """Stand in for training: random B (and A) factors and a moved head, so the adapter matters."""
    g = torch.Generator().manual_seed(seed)
    for layer in lora.lora_layers(model).values():
        for p in layer.lora.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)
    head = model.classifier if hasattr(model, "classifier") else model.head
    head.weight.add_(torch.randn(head.weight.shape, generator=g))
    return model


def tap_bert(targets=("query", "value"), rank: int = 4, alpha: float = 8, rslora: bool = False) -> nn.Module:
    model = bert()
    lora.apply_lora(model, list(targets), rank=rank, alpha=alpha, rslora=rslora)
    return trained(model)


# --- tap -> tap ----------------------------------------------------------------------------------


def test_round_trip_gives_identical_logits_from_a_small_file(tmp_path):
    model = tap_bert()
    path = lora_io.save_lora(model, tmp_path)
    assert path == tmp_path / "lora.safetensors" and path.is_file()
    config = json.loads((tmp_path / "lora_config.json").read_text())
    assert config["rank"] == 4 and config["alpha"] == 8 and config["modules_to_save"] == ["classifier"]
    assert config["target_modules"] == [
        f"bert.encoder.layer.{i}.attention.self.{m}" for i in (0, 1) for m in ("query", "value")
    ]
    assert not torch.allclose(logits(bert()), logits(model))  # the adapter changes the output
    loaded = lora_io.load_lora(bert(), tmp_path)
    assert torch.equal(logits(loaded), logits(model))
    assert {n for n, p in loaded.named_parameters() if p.requires_grad} == {
        n for n, p in model.named_parameters() if p.requires_grad
    }  # trainable again, as saved
    size = lora_io.storage(model, tmp_path)
    factors = 4 * 4 * (32 + 32) + 2 * 32 + 2  # four adapted layers, rank 4, plus the head
    assert size.lora_bytes == lora_io.lora_bytes(tmp_path) > 4 * factors
    assert size.model_bytes == sum(t.numel() * t.element_size() for t in bert().state_dict().values())
    assert size.share < 15 and size.lora_bytes < size.model_bytes / 7
    with torch.no_grad():  # and the comparison notices a changed factor
        lora.lora_layers(loaded)["bert.encoder.layer.1.attention.self.value"].lora.B[0, 0] += 0.1
    assert not torch.equal(logits(loaded), logits(model))


def test_the_head_is_part_of_the_adapter(tmp_path):
    model = tap_bert()
    lora_io.save_lora(model, tmp_path / "lora_only", heads=())
    assert json.loads((tmp_path / "lora_only" / "lora_config.json").read_text())["modules_to_save"] == []
    without_head = lora_io.load_lora(bert(), tmp_path / "lora_only")
    assert not torch.allclose(logits(without_head), logits(model))  # the fresh head is not the trained one
    model.classifier.weight.requires_grad_(False)
    model.classifier.bias.requires_grad_(False)  # a frozen head is not saved by default ...
    lora_io.save_lora(model, tmp_path / "frozen_head")
    assert json.loads((tmp_path / "frozen_head" / "lora_config.json").read_text())["modules_to_save"] == []
    lora_io.save_lora(model, tmp_path / "named", heads=["classifier"])  # ... unless named
    assert torch.equal(logits(lora_io.load_lora(bert(), tmp_path / "named")), logits(model))


def test_round_trip_of_taps_encoder_with_an_embedding_table(tmp_path):
    size = EncoderSize(vocab_size=50, d_model=16, num_heads=2, d_ff=32, num_layers=2, max_len=20)

    def encoder() -> TransformerClassifier:
        torch.manual_seed(0)
        return TransformerClassifier(size, 2).eval()

    model = encoder()
    lora.apply_lora(model, ["embedding", "attention.query"], rank=3, alpha=6)
    trained(model)
    lora_io.save_lora(model, tmp_path / "tap")
    assert torch.equal(logits(lora_io.load_lora(encoder(), tmp_path / "tap"), True), logits(model, True))
    lora_io.save_as_peft(model, tmp_path / "peft", "tap-encoder")  # PEFT on a model that is not Hugging Face's
    config = json.loads((tmp_path / "peft" / "adapter_config.json").read_text())
    assert config["task_type"] is None and config["modules_to_save"] == ["head"]
    theirs = PeftModel.from_pretrained(encoder(), tmp_path / "peft")
    assert torch.allclose(logits(theirs, True), logits(model, True), atol=1e-6, rtol=0)
    assert not torch.allclose(logits(encoder(), True), logits(model, True), atol=1e-3)


# --- tap -> PEFT and PEFT -> tap -----------------------------------------------------------------


@pytest.mark.parametrize("targets, rslora", [(("query", "value"), False), (("word_embeddings", "query"), True)])
def test_saved_as_peft_loads_in_peft_with_the_same_logits(tmp_path, targets, rslora):
    model = tap_bert(targets, rank=4, alpha=8, rslora=rslora)
    path = lora_io.save_as_peft(model, tmp_path, base_model_name_or_path="tiny-bert")
    assert path == tmp_path / "adapter_model.safetensors"
    config = json.loads((tmp_path / "adapter_config.json").read_text())
    assert (config["peft_type"], config["r"], config["lora_alpha"], config["lora_dropout"], config["bias"]) == (
        "LORA",
        4,
        8,
        0.0,
        "none",
    )
    assert config["use_rslora"] is rslora and config["task_type"] == "SEQ_CLS"
    assert config["base_model_name_or_path"] == "tiny-bert" and config["modules_to_save"] == ["classifier"]
    keys = set(load_file(path))
    assert "base_model.model.bert.encoder.layer.0.attention.self.query.lora_A.weight" in keys
    assert "base_model.model.classifier.weight" in keys
    if "word_embeddings" in targets:
        assert "base_model.model.bert.embeddings.word_embeddings.lora_embedding_B" in keys
    theirs = PeftModel.from_pretrained(bert(), tmp_path).eval()
    assert torch.allclose(logits(theirs), logits(model), atol=1e-6, rtol=0)
    assert not torch.allclose(logits(bert()), logits(model), atol=1e-3)


def peft_adapter(folder, targets=("query", "value"), rslora: bool = False, **options) -> nn.Module:
    """PEFT's own save_pretrained of a "trained" PEFT LoRA on the tiny BERT."""
    theirs = get_peft_model(
        bert(),
        LoraConfig(r=4, lora_alpha=8, target_modules=list(targets), use_rslora=rslora, task_type="SEQ_CLS", **options),
    )
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, p in theirs.named_parameters():
            if "lora_" in name or "modules_to_save" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.2)
    theirs.save_pretrained(folder)
    return theirs.eval()


@pytest.mark.parametrize("targets, rslora", [(("query", "value"), False), (("word_embeddings", "key"), True)])
def test_peft_adapter_loads_into_tap_with_the_same_logits(tmp_path, targets, rslora):
    theirs = peft_adapter(tmp_path, targets, rslora)
    ours = lora_io.load_from_peft(bert(), tmp_path)
    assert all(type(m) is not nn.Module and "peft" not in type(m).__module__ for m in ours.modules())
    assert len(lora.lora_layers(ours)) == 4 if "query" in targets else 3
    assert torch.allclose(logits(ours), logits(theirs), atol=1e-6, rtol=0)
    assert not torch.allclose(logits(bert()), logits(theirs), atol=1e-3)
    lora_io.save_lora(ours, tmp_path / "tap")  # and on through tap's own format
    assert torch.equal(logits(lora_io.load_lora(bert(), tmp_path / "tap")), logits(ours))


# --- Errors --------------------------------------------------------------------------------------


def test_a_folder_without_the_files_fails_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="No adapter folder"):
        lora_io.load_lora(bert(), tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="lacks lora_config.json and lora.safetensors"):
        lora_io.load_lora(bert(), tmp_path)
    with pytest.raises(FileNotFoundError, match="lacks adapter_config.json"):
        lora_io.load_from_peft(bert(), tmp_path)
    lora_io.save_as_peft(tap_bert(), tmp_path / "peft", "tiny-bert")
    with pytest.raises(FileNotFoundError, match="a PEFT adapter: use load_from_peft"):
        lora_io.load_lora(bert(), tmp_path / "peft")
    lora_io.save_lora(tap_bert(), tmp_path / "tap")
    with pytest.raises(FileNotFoundError, match="a tap adapter: use load_lora"):
        lora_io.load_from_peft(bert(), tmp_path / "tap")


def test_targets_that_match_no_module_of_the_base_fail_clearly(tmp_path):
    other = TransformerClassifier(
        EncoderSize(vocab_size=50, d_model=16, num_heads=2, d_ff=32, num_layers=1, max_len=20), 2
    )  # not the base these adapters were trained on
    lora_io.save_lora(tap_bert(), tmp_path / "tap")
    with pytest.raises(
        ValueError,
        match=r"attention\.self\.query'.*\] match no module of the base model \(a "
        r"TransformerClassifier\).*end in: down, embedding, head, key",
    ):
        lora_io.load_lora(other, tmp_path / "tap")
    peft_adapter(tmp_path / "peft")
    with pytest.raises(
        ValueError,
        match=r"targets of .* \(\[('query', 'value'|'value', 'query')\]\) match no "
        r"module of the base model",
    ):
        lora_io.load_from_peft(other, tmp_path / "peft")
    assert not lora.lora_layers(other)  # nothing was changed
    config_path = tmp_path / "tap" / "lora_config.json"  # a config naming a module the file has no factors for
    config = json.loads(config_path.read_text())
    config_path.write_text(json.dumps({**config, "target_modules": ["bert.encoder.layer.0.attention.self.qkv"]}))
    with pytest.raises(ValueError, match="lacks the factors of 'bert.encoder.layer.0.attention.self.qkv'"):
        lora_io.load_lora(bert(), tmp_path / "tap")


def test_rank_and_shape_mismatches_fail_clearly(tmp_path):
    lora_io.save_lora(tap_bert(rank=4), tmp_path / "tap")
    config_path = tmp_path / "tap" / "lora_config.json"
    config_path.write_text(json.dumps({**json.loads(config_path.read_text()), "rank": 8}))
    with pytest.raises(ValueError, match="Rank mismatch.*config says rank 8"):
        lora_io.load_lora(bert(), tmp_path / "tap")
    peft_adapter(tmp_path / "peft")
    config_path = tmp_path / "peft" / "adapter_config.json"
    config_path.write_text(json.dumps({**json.loads(config_path.read_text()), "r": 2}))
    with pytest.raises(ValueError, match=r"Rank mismatch.*r=2.*rank \[4\]"):
        lora_io.load_from_peft(bert(), tmp_path / "peft")
    lora_io.save_lora(tap_bert(), tmp_path / "ok")
    wider = BertConfig(**{**CONFIG.to_dict(), "hidden_size": 48})
    with pytest.raises(ValueError, match="Shape mismatch.*48 -> 48.*another base model"):
        lora_io.load_lora(bert(config=wider), tmp_path / "ok")
    base = bert()
    lora.apply_lora(base, ["query"], rank=4, alpha=8)
    with pytest.raises(ValueError, match="already has LoRA layers"):
        lora_io.load_lora(base, tmp_path / "ok")


def test_peft_options_tap_does_not_compute_are_refused_by_name(tmp_path):
    peft_adapter(tmp_path)
    config_path = tmp_path / "adapter_config.json"
    config = json.loads(config_path.read_text())
    for change, named in (
        ({"use_dora": True}, "use_dora"),
        ({"bias": "all"}, "bias='all'"),
        ({"rank_pattern": {"query": 8}}, "rank_pattern"),
        ({"peft_type": "IA3"}, "'IA3' adapter"),
    ):
        config_path.write_text(json.dumps({**config, **change}))
        with pytest.raises(ValueError, match=named):
            lora_io.load_from_peft(bert(), tmp_path)


def test_saving_refuses_what_a_file_could_not_reproduce(tmp_path):
    with pytest.raises(ValueError, match="no LoRA layers"):
        lora_io.save_lora(bert(), tmp_path)
    model = tap_bert()
    model.bert.pooler.dense.weight.requires_grad_(True)  # trained, but neither LoRA nor the head
    with pytest.raises(ValueError, match=r"outside LoRA and the head: bert\.pooler\.dense\.weight"):
        lora_io.save_lora(model, tmp_path)
    lora_io.save_lora(model, tmp_path, heads=["classifier", "bert.pooler"])  # saved whole when named
    assert torch.equal(logits(lora_io.load_lora(bert(), tmp_path)), logits(model))
    mixed = bert()
    lora.apply_lora(mixed, ["query"], rank=4, alpha=8)
    lora.apply_lora(mixed, ["value"], rank=2, alpha=8, freeze=False)
    with pytest.raises(ValueError, match="differ in"):
        lora_io.save_as_peft(mixed, tmp_path / "mixed", "tiny-bert")
    with pytest.raises(ValueError, match="not found in the model"):
        lora_io.save_lora(tap_bert(), tmp_path, heads=["nowhere"])
