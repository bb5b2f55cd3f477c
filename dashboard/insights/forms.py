"""The admin's form for a process's business value and SLA."""

from __future__ import annotations

from decimal import Decimal

from django import forms


class ProcessValueForm(forms.Form):
    value_per_item = forms.DecimalField(
        label="Value of one done work item",
        required=False,
        min_value=Decimal(0),
        max_digits=12,
        decimal_places=2,
        help_text="Leave empty when this process's work has no value to count.",
    )
    currency = forms.CharField(
        label="Currency or unit",
        required=False,
        max_length=12,
        help_text="A label such as EUR, USD or hours saved.",
    )
    sla_hours = forms.IntegerField(
        label="SLA for failed items (hours)",
        required=False,
        min_value=1,
        max_value=24 * 366,
        help_text="Failed items older than this are counted as over the SLA.",
    )

    def clean_currency(self) -> str:
        return " ".join(str(self.cleaned_data.get("currency") or "").split())
