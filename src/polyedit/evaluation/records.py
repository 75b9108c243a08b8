"""What a result record says about where each of its numbers came from."""

from __future__ import annotations


def protocol_labels(protocol_of: dict[str, str], descriptors: dict[str, dict]) -> dict[str, dict]:
    """metric -> {name, kind, version, chat_template[, chat_protocol]} of the protocol that produced it (the full
    descriptor is in the case record's `protocols`), so no number in results.jsonl is unlabelled, and each says
    whether its prompts went through the model's chat template (and, on a chat endpoint, how they became
    messages)."""
    out = {}
    for metric, name in protocol_of.items():
        d = descriptors.get(name, {})
        out[metric] = {"name": name, "kind": d.get("kind"), "version": d.get("version"),
                       "chat_template": bool(d.get("chat_template", False))}
        if d.get("chat_protocol"):  # a chat endpoint's messages (models.openai_backend_chat.CHAT_PROTOCOLS)
            out[metric]["chat_protocol"] = d["chat_protocol"]
    return out
