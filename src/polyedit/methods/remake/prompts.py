"""The two in-context prompt forms ReMaKE can put before a query (`prompt_form`):

- `remake`, ReMaKE's own (weixuan-wang123/ReMaKE, `compute_icl_edit_quality`): the retrieved edit as a
  question and its answer, then the query as a question,

      Question: <edit prompt> Answer: <target_new>
      Question: <query> Answer:

  and the bare `Question: <query> Answer:` when nothing is retrieved; the answer is the continuation up to
  the end of its line;
- `bmike`, BMIKE-53's in-context prompt (`ike.prompts`: `New Fact: "<prompt> <target>"\\nQuestion: "<query>"
  Answer: "`), and the plain query when nothing is retrieved; the answer ends at its first `"`.

Further retrieved edits (top_k > 1) come first, nearest last, in the form's own way of stating an edit.
"""

from __future__ import annotations

from polyedit.data.cases import Edit
from polyedit.methods.ike.prompts import ANSWER_STOP, fact_text, in_context_prompt

PROMPT_FORMS = ("remake", "bmike")
#: where the model's answer ends, per form
STOPS = {"remake": "\n", "bmike": ANSWER_STOP}


def question(prompt: str, answer: str | None = None) -> str:
    """ReMaKE's `Question: <prompt> Answer:`, with ` <answer>` when it is given."""
    return f"Question: {prompt} Answer:" + (f" {answer}" if answer is not None else "")


def remake_prompt(retrieved: list[Edit], query: str) -> str:
    """ReMaKE's form: each retrieved edit (nearest last) as a question and its answer, then the query."""
    return "".join(question(e.prompt, e.target_new) + "\n" for e in reversed(retrieved)) + question(query)


def bmike_prompt(retrieved: list[Edit], query: str) -> str:
    """BMIKE-53's form: the nearest edit as the query's new fact, further ones as `New fact:` lines before;
    the plain query when nothing is retrieved."""
    if not retrieved:
        return query
    nearest, *others = retrieved
    extra = "".join(f'New fact: "{fact_text(e.prompt, e.target_new, e.lang)}"\n' for e in reversed(others))
    return extra + in_context_prompt([], nearest.prompt, nearest.target_new, query, nearest.lang)


BUILDERS = {"remake": remake_prompt, "bmike": bmike_prompt}
