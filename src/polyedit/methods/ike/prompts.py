"""The in-context editing prompt, byte for byte as BMIKE-53's scorer (ercong21/MultiKnow `icl.py`) writes it.

A demonstration is

    New fact: "<question_en> <answer_en>"
    Question: "<question_xx>" Answer: "<answer_xx>"

followed by a blank line; the query block that follows the demonstrations is

    New Fact: "<src_en> <alt_en>"
    Question: "<query_xx>" Answer: "

(`fact` in demonstrations, `Fact` in the query, as in the reference). The model's continuation is cut at
its first `"`.
"""

from __future__ import annotations

from typing import Iterable

from polyedit.data.languages import get_language

#: where the model's answer ends
ANSWER_STOP = '"'


def fact_text(prompt: str, target: str, lang: str) -> str:
    """`<src> <alt>` exactly as the reference writes it (BMIKE-53's edits are English); in a language written
    without spaces (an edit stated in ja, zh, th) the two are joined without one, as the knowledge world's
    in-context corpus writes them."""
    return f"{prompt} {target}" if get_language(lang).spaces else f"{prompt.rstrip()}{target.strip()}"


def demonstration(fact: str, question: str, answer: str) -> str:
    return f'New fact: "{fact}"\nQuestion: "{question}" Answer: "{answer}"\n\n'


def query_block(src_en: str, alt_en: str, question: str) -> str:
    return f'New Fact: "{src_en} {alt_en}"\nQuestion: "{question}" Answer: "'


def in_context_prompt(demos: Iterable[tuple[str, str, str]], src_en: str, alt_en: str, question: str,
                      edit_lang: str = "en") -> str:
    """Demonstrations (fact, question, answer) in the order given, then the query block."""
    if get_language(edit_lang).spaces:
        query = query_block(src_en, alt_en, question)
    else:
        query = f'New Fact: "{fact_text(src_en, alt_en, edit_lang)}"\nQuestion: "{question}" Answer: "'
    return "".join(demonstration(*d) for d in demos) + query
