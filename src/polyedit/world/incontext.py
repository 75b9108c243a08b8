"""The in-context update format, shared by the training corpus and the in-context editing method.

MIKE / cross-lingual IKE (BMIKE-53) query a model with

    New Fact: "<edit prompt> <new object>"
    Question: "<query in any language>" Answer: "

and cut the continuation at the first `"`. Demonstrations, when given, come first, one per block,
separated by a blank line, and spell the fact header `New fact:`. The corpus teaches the model exactly
this format, so the strings live here and nowhere else.
"""

from __future__ import annotations

from polyedit.data.languages import join_target

QUERY_HEADER = "New Fact: "
DEMO_HEADER = "New fact: "
STOP = '"'  # the answer ends at the closing quote
BLOCK_SEP = "\n\n"


def statement(prompt: str, obj: str, lang: str) -> str:
    """A fact as one sentence: the prompt and its object joined by polyedit's one convention."""
    context, continuation = join_target(prompt, obj, lang)
    return context + continuation


def _block(header: str, fact: str, query: str) -> str:
    return f'{header}"{fact}"\nQuestion: "{query}" Answer: "'


def demonstration(fact: str, query: str, answer: str) -> str:
    return _block(DEMO_HEADER, fact, query) + answer + STOP


def query_prompt(fact: str, query: str, demonstrations: list[str] | tuple[str, ...] = ()) -> str:
    """The prompt whose continuation, up to the first `"`, is the model's answer."""
    return BLOCK_SEP.join([*demonstrations, _block(QUERY_HEADER, fact, query)])
