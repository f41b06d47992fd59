"""Declared resources are refused outside their preview, before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from msmvp import domain
from msmvp.errors import AnswersFileError
from msmvp.manifest import load_answers

ANSWERS = """\
name: shop
services:
  - name: users
    resources:
      - name: user
        fields:
          email: {type: email, required: true, unique: true}
"""


def test_declared_resources_need_the_preview(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    answers = tmp_path / "answers.yaml"
    answers.write_text(ANSWERS, encoding="utf-8")
    monkeypatch.delenv("MSMVP_PREVIEW", raising=False)
    with pytest.raises(AnswersFileError) as caught:
        load_answers(answers)
    assert str(caught.value).startswith(f"{answers}:4: declared resources are a preview")
    assert f"MSMVP_PREVIEW={domain.PREVIEW}" in caught.value.hint
    monkeypatch.setenv("MSMVP_PREVIEW", domain.PREVIEW)
    assert load_answers(answers).services[0].resources is not None
