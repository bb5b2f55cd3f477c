"""What the DEBUG error page and error e-mails may show: never a key, password or token.

Django's filter is inactive while DEBUG is on (so the development error page showed submitted keys
and passwords even from views marked ``sensitive_post_parameters``), and it only masks what is
marked. This one is always active, and also masks any POST field, traceback variable or dict key
whose name says it holds a secret, so a view that forgets the decorator (or a helper several frames
down holding ``cleaned_data``) still leaks nothing.
"""

from __future__ import annotations

import re
from typing import Any

from django.http import HttpRequest, QueryDict
from django.views.debug import SafeExceptionReporterFilter

SECRET_NAME = re.compile(
    r"api_?key|pass(word|wd|phrase)?\d?|secret|token|signature|csrf|session|cookie|authorization",
    re.IGNORECASE,
)


class SecretMaskingReporterFilter(SafeExceptionReporterFilter):
    hidden_settings = SECRET_NAME

    def is_active(self, request: HttpRequest | None) -> bool:
        return True

    def _mask_by_name(self, values: Any) -> Any:
        masked = values.copy()
        for name in list(masked):
            if SECRET_NAME.search(str(name)):
                masked[name] = self.cleansed_substitute
        return masked

    def get_post_parameters(self, request: HttpRequest | None) -> Any:
        params = super().get_post_parameters(request)
        return self._mask_by_name(params) if request is not None else params

    def get_cleansed_multivaluedict(
        self, request: HttpRequest, multivaluedict: QueryDict
    ) -> QueryDict:
        cleansed = super().get_cleansed_multivaluedict(request, multivaluedict)
        masked: QueryDict = self._mask_by_name(cleansed)
        return masked

    def get_traceback_frame_variables(self, request: Any, tb_frame: Any) -> Any:
        variables = super().get_traceback_frame_variables(request, tb_frame)
        return [(name, self.cleanse_setting(name, value)) for name, value in variables]
