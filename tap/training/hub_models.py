"""Which model does each job in chapter 02, and the models that exist only on the Hub.

In the ``full`` profile every job runs the original Hugging Face Hub model; at CPU scale a
stand-in does (``tap.models.pretrained.resolve``): chapter 03's small language models for GPT-2 and BERT,
and chapter 02's own sentiment classifier for DistilBERT SST-2 (all-MiniLM-L6-v2, the sentence
encoder, is the same model everywhere). ``models_note`` names on the page which ran. Translation, summarisation and
the originals behind the stand-ins run only when the Hub answers, whatever the profile;
otherwise the page says, visibly, what was skipped.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import pandas as pd
import torch
from IPython.display import HTML
from torch import nn
from transformers import AutoTokenizer, pipeline

from ..core.hub import hub_available
from ..core.measure import timer
from ..core.profiles import Profile
from ..core.report import format_table
from ..methods.parameter_counts import count_parameters
from ..models import pretrained
from . import lm

SENTIMENT_HUB_ID = "distilbert/distilbert-base-uncased-finetuned-sst-2-english"  # Sanh et al., 2019
CAUSAL_LM_HUB_ID = "openai-community/gpt2"  # Radford et al., 2019
MASKED_LM_HUB_ID = "google-bert/bert-base-uncased"  # Devlin et al., 2019
# Tasks whose models exist only on the Hub (transformers 5 removed their pipelines too:
# they run through AutoModelForSeq2SeqLM + generate()).
HUB_ONLY = {"translation (English → German)": "google-t5/t5-small", "summarisation": "sshleifer/distilbart-cnn-12-6"}
# Extras: the original models behind this chapter's stand-ins, and the original study's language
# detector. They run in every profile when the Hub is reachable, and are labelled as extras.
HUB_EXTRAS = {
    "sentiment (the original DistilBERT SST-2)": (SENTIMENT_HUB_ID, "text-classification"),
    "text generation (the original GPT-2)": (CAUSAL_LM_HUB_ID, "text-generation"),
    "language detection (XLM-R)": ("papluca/xlm-roberta-base-language-detection", "text-classification"),
}
LANGUAGE_SAMPLES = [
    "This film was a pleasure from start to finish.",
    "Ce film est d'un ennui mortel.",
    "Dieser Film war viel zu lang.",
    "Questa pellicola è un capolavoro.",
]


@dataclass
class Resolved:
    """Where a model loads from, and what it is."""

    hub_id: str  # the model the book would use with the Hub
    where: str  # the Hub id, or the local folder of the stand-in
    name: str  # what the page calls it
    record: dict | None = None  # the training record, for a model trained in this chapter

    @property
    def stand_in(self) -> bool:
        return self.hub_id in pretrained.STAND_INS


def sentence_encoder() -> Resolved:
    """all-MiniLM-L6-v2, from the Hub or its offline copy."""
    return Resolved(pretrained.MINILM, pretrained.resolve(pretrained.MINILM), "all-MiniLM-L6-v2")


def language_model(profile: Profile, kind: str) -> Resolved:
    """GPT-2 (``kind='causal'``) or BERT (``kind='masked'``) from the Hub; offline, the small
    models chapter 03 trains on IMDB reviews (cached after their first training)."""
    if kind == "causal":
        hub_id, build, name = CAUSAL_LM_HUB_ID, lambda: lm.causal_lm(profile), "GPT-2"
    elif kind == "masked":
        hub_id, build, name = MASKED_LM_HUB_ID, lambda: lm.masked_lm(profile), "BERT"
    else:
        raise ValueError(f"kind must be 'causal' or 'masked', got {kind!r}.")
    description = f"the small {kind} language model chapter 03 trains on IMDB reviews"
    where = pretrained.resolve(hub_id, stand_in=(description, build))
    return Resolved(hub_id, where, f"chapter 03's {kind} LM" if hub_id in pretrained.STAND_INS else name)


def models_note(used: dict[str, Resolved]) -> HTML:
    """The visible note on which model did each job on this page, and which were stand-ins."""
    rows = "".join(
        f"<tr><td>{html.escape(task)}</td><td><code>{html.escape(r.hub_id)}</code></td>"
        f"<td>{'the model itself (the same weights online or offline)' if not r.stand_in else html.escape(pretrained.STAND_INS.get(r.hub_id, r.name))}</td></tr>"
        for task, r in used.items()
    )
    stand_ins = any(r.stand_in for r in used.values())
    kind, title = ("warning", "Stand-in models at CPU scale") if stand_ins else ("note", "Models on this page")
    intro = (
        "This profile runs at CPU scale, so the models below stand in for the Hub models named beside "
        "them, online or offline alike; the numbers on this page are the stand-ins' own "
        "(<code>TAP_PROFILE=full</code> uses the originals)."
        if stand_ins
        else "Every model on this page is the original Hugging Face Hub model, at its pinned revision."
    )
    return HTML(
        f'<div class="admonition {kind}"><p class="admonition-title">{title}</p><p>{intro}</p>'
        f"<table><tr><th>task</th><th>Hub model</th><th>used here</th></tr>{rows}</table></div>"
    )


def model_note(resolved: Resolved, model: nn.Module) -> str:
    """One sentence on what a language model is: its size, and offline how it was trained."""
    params = count_parameters(model)["total_params"]
    if not resolved.stand_in:
        return f"The model is {resolved.name} ({params / 1e6:,.0f} million parameters), pre-trained on web-scale text."
    record = lm.read_record(resolved.where)
    tokens = (
        f" on {record['train_tokens']:,} tokens of IMDB reviews" if record.get("train_tokens") else " on IMDB reviews"
    )
    return (
        f"The model is {resolved.name}: {params / 1e6:.1f} million parameters, pre-trained for "
        f"{record.get('wall_time_s', float('nan')):.0f} s{tokens} in chapter 03."
    )


def fill_mask_note(masked: Resolved, model: nn.Module, guesses: list[list[dict]]) -> str:
    """What the masked LM is, and whether its top guesses follow the context or only token frequency."""
    common = set.intersection(*({c["token_str"] for c in g} for g in guesses))  # in every sentence's top guesses
    shared = ", ".join(f"'{t}'" for t in sorted(common))
    return model_note(masked, model) + (
        f" It proposes mostly the same tokens whatever the sentence ({shared}): it has learned which tokens are "
        "frequent, hardly yet what a context asks for."
        if len(common) >= 3
        else f" Frequent tokens ({shared}) still crowd its guesses, which only start to follow the context."
        if common
        else " Its guesses follow the context."
    )


# --- models that exist only on the Hub ------------------------------------------------------


def unavailable_note(models_by_task: dict[str, str], reason: str) -> HTML:
    """A visible note on the page naming what was not run and why."""
    items = "".join(
        f"<li>{html.escape(task)}: <code>{html.escape(m)}</code></li>" for task, m in models_by_task.items()
    )
    return HTML(
        '<div class="admonition warning"><p class="admonition-title">Not run in this build</p>'
        f"<p>{html.escape(reason)}</p><ul>{items}</ul>"
        "<p>Rebuild with the Hub reachable (and <code>HF_HUB_OFFLINE</code> unset) to run them.</p></div>"
    )


def hub_extras(reviews: list[str], prompt: str, max_new_tokens: int = 30) -> pd.DataFrame | HTML:
    """The extras of ``HUB_EXTRAS`` when the Hub is reachable, whatever the profile (a table of
    inputs and outputs, nothing on it used elsewhere on the page); otherwise the visible note
    saying what was skipped."""
    if not hub_available():
        return unavailable_note(
            {task: hub_id for task, (hub_id, _) in HUB_EXTRAS.items()},
            "These extras load the original models from the Hugging Face Hub, which is "
            "unreachable here (or offline mode is set); nothing else on the page depends on them.",
        )
    rows = []
    for task, (hub_id, kind) in HUB_EXTRAS.items():
        run = pipeline(kind, model=pretrained.hub_snapshot(hub_id))
        if kind == "text-generation":
            out = run(prompt, max_new_tokens=max_new_tokens, do_sample=False)[0]["generated_text"]
            rows.append({"extra": task, "model": hub_id, "input": prompt, "output": out})
            continue
        for text in reviews if "sentiment" in task else LANGUAGE_SAMPLES:
            best = run(text)[0]
            rows.append(
                {"extra": task, "model": hub_id, "input": text, "output": f"{best['label']} ({best['score']:.2f})"}
            )
    return pd.DataFrame(rows).set_index("extra")


def hub_only_tasks(article: str, sentence: str, max_new_tokens: int = 100) -> pd.DataFrame | HTML:
    """Translation with T5-small and summarisation with DistilBART, when the Hub is
    reachable (a table of outputs); otherwise the visible note saying they were not run."""
    if not hub_available():
        return unavailable_note(
            HUB_ONLY,
            "The Hugging Face Hub is unreachable (or offline mode is set), and these "
            "models exist only there; the book has no offline stand-in for them.",
        )
    from transformers import AutoModelForSeq2SeqLM

    rows = []
    for (task, hub_id), source in zip(HUB_ONLY.items(), (f"translate English to German: {sentence}", article)):
        where = pretrained.hub_snapshot(hub_id)  # pinned revision
        tokenizer, model = AutoTokenizer.from_pretrained(where), AutoModelForSeq2SeqLM.from_pretrained(where).eval()
        batch = tokenizer(source, truncation=True, max_length=512, return_tensors="pt")
        with timer() as clock, torch.inference_mode():
            out = model.generate(**batch, num_beams=4, max_new_tokens=max_new_tokens)
        rows.append(
            {
                "task": task,
                "model": hub_id,
                "input": source[:200] + ("…" if len(source) > 200 else ""),
                "output": tokenizer.decode(out[0], skip_special_tokens=True),
                "seconds": clock["seconds"],
            }
        )
    return format_table(pd.DataFrame(rows).set_index("task"))
