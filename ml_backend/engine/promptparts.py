"""The per-control pieces of the locked prompt parts for controls that are not a plain choice.

Why apart from ``prompts``: that module guards the template; these are the words and examples
each kind of control is asked with, so that the template (``prompt_templates/classification.j2``),
the answer's JSON schema (``postprocess.response_format``) and the simulator agree:

- Labels: ``## Mark every mention of these entity types for: <control>``, the labels as bullets;
  the answer is a list of ``{"text", "label"}`` objects, the text copied from the input (the
  service computes the offsets, see ``spans``).
- TextArea: ``## Write a free-text answer for: <control>``; the answer is a string.
- Rating and Number: ``## Give <range> for: <control>`` (e.g. "a whole number from 1 to 5",
  "a number from 0 to 10 in steps of 0.5"); the answer is a JSON number.
- Taxonomy: asked like Choices, its options being the full paths (``Europe > France``).
"""

from __future__ import annotations

from typing import Any

from ml_backend.engine.labeling import Control


def value_range(control: Control) -> str:
    """The words that state a rating's or number's allowed values; empty for other controls."""
    if control.kind == "rating":
        return f"a whole number from 1 to {control.maximum:g}"
    if control.kind != "number":
        return ""
    low, high, step = control.minimum, control.maximum, control.step
    words = "a number"
    if low is not None and high is not None:
        words += f" from {low:g} to {high:g}"
    elif low is not None:
        words += f" of at least {low:g}"
    elif high is not None:
        words += f" of at most {high:g}"
    return words + (f" in steps of {step:g}" if step is not None else "")


def answer_example(control: Control) -> Any:
    """The example value shown for a control in the output format instruction."""
    if control.kind == "labels":
        return [{"text": "<text copied from the input>", "label": control.texts[0]}]
    if control.kind == "textarea":
        return "<your answer>"
    if control.kind == "rating":
        return int(control.maximum or 1)
    if control.kind == "number":
        return control.minimum if control.minimum is not None else 0
    return control.texts[:2] if control.multiple else control.texts[0]


def value_schema(control: Control) -> dict[str, Any]:
    """The JSON schema of a non-choice control's answer (a property of the response format)."""
    if control.kind == "labels":
        entity = {
            "type": "object",
            "properties": {"text": {"type": "string"}, "label": {"type": "string", "enum": list(control.texts)}},
            "required": ["text", "label"],
            "additionalProperties": False,
        }
        return {"type": "array", "items": entity}
    if control.kind == "textarea":
        return {"type": "string"}
    schema: dict[str, Any] = {"type": "integer" if control.kind == "rating" else "number"}
    if control.minimum is not None:
        schema["minimum"] = control.minimum
    if control.maximum is not None:
        schema["maximum"] = control.maximum
    return schema
