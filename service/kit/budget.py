"""The output budget: how many values one answer may hold, counted before any work is done.

A route that can answer much more than it was sent (vectors x dimensions, queries x ``topn``,
inputs x hypotheses x output length x source length, attention matrices) counts the values its
answer would hold from the request and the model, and :func:`check_answer` refuses it, naming the
count, the budget and the setting that raises it, when the count is over ``MAX_ANSWER_VALUES``. The
micro-batchers bound a batch by the same budget (:class:`service.kit.batching.MicroBatcher`).

>>> from service.kit.settings import ServiceSettings
>>> check_answer(10, ServiceSettings(max_answer_values=1000), "vectors")
>>> check_answer(5000, ServiceSettings(max_answer_values=1000), "vectors")
Traceback (most recent call last):
...
service.kit.errors.InvalidInputError: the answer would hold 5000 values (vectors), over the budget of 1000 (EMBATTN_MAX_ANSWER_VALUES); ask for less, or raise the setting
"""

from __future__ import annotations

from service.kit.errors import InvalidInputError
from service.kit.settings import ServiceSettings


def check_answer(values: int, settings: ServiceSettings, what: str) -> None:
    """422 ``answer-too-large`` when an answer would hold more than ``MAX_ANSWER_VALUES`` values;
    ``what`` says what was counted (``"1000 words x 300 dimensions"``)."""
    budget = settings.max_answer_values
    if values > budget:
        setting = f"{settings.model_config.get('env_prefix', '')}MAX_ANSWER_VALUES"
        raise InvalidInputError(
            f"the answer would hold {values} values ({what}), over the budget of {budget} ({setting}); "
            "ask for less, or raise the setting",
            code="answer-too-large",
            title="Answer too large",
            count=values,
            budget=budget,
            setting=setting,
        )
