from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileSize
from wtforms import TextAreaField
from wtforms.validators import Length, ValidationError


class VerifyForm(FlaskForm):
    document = TextAreaField(
        _l("Paste the passport"), validators=[Length(max=2_000_000)],
        description=_l("The signed passport (it starts with eyJ…) or its JSON-LD (it starts with {)."),
    )
    file = FileField(_l("Or upload the file"), validators=[FileSize(max_size=2_000_000)])

    def validate_document(self, field: TextAreaField) -> None:
        if not (field.data or "").strip() and not self.file.data:
            raise ValidationError(_l("Paste a passport or choose a file."))
