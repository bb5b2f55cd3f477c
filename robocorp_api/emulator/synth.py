"""Deterministic synthetic data: payloads, exception messages, log lines and artifact bytes.

Everything here is a pure function of its arguments (a seed and an index), so a seeded store can derive
payloads lazily instead of keeping a million dictionaries in memory.
"""

from __future__ import annotations

import random
import struct
import time
import zlib
from typing import Any

FIRST_NAMES = (
    "Jane",
    "Matti",
    "Aino",
    "Lucas",
    "Sofia",
    "Omar",
    "Priya",
    "Henrik",
    "Chen",
    "Maria",
    "Tom",
    "Elif",
)
LAST_NAMES = (
    "Doe",
    "Virtanen",
    "Korhonen",
    "Smith",
    "Garcia",
    "Haddad",
    "Patel",
    "Larsen",
    "Wei",
    "Rossi",
    "Berg",
    "Yilmaz",
)
COMPANIES = (
    "Acme Oy",
    "Nordic Parts AB",
    "Globex GmbH",
    "Initech Ltd",
    "Umbrella BV",
    "Stark Logistics",
    "Wayne Foods SA",
)
CITIES = (
    "Helsinki",
    "Espoo",
    "Stockholm",
    "Berlin",
    "Amsterdam",
    "Tampere",
    "Oslo",
    "Madrid",
)
PRODUCTS = (
    "SKU-1042 Pallet wrap",
    "SKU-2210 Steel bolts M8",
    "SKU-3301 Label printer",
    "SKU-4410 Safety gloves",
    "SKU-5120 Barcode scanner",
)
CURRENCIES = ("EUR", "EUR", "EUR", "SEK", "USD")

# The payload family of a process (chosen from its name when the process is created).
PAYLOAD_KINDS = ("invoice", "order", "customer", "payroll", "ticket", "generic")


def kind_for_name(name: str) -> str:
    """Guess a payload family from a process name."""
    low = name.lower()
    for word, kind in (
        ("invoice", "invoice"),
        ("order", "order"),
        ("customer", "customer"),
        ("onboard", "customer"),
        ("payroll", "payroll"),
        ("salary", "payroll"),
        ("ticket", "ticket"),
        ("triage", "ticket"),
    ):
        if word in low:
            return kind
    return "generic"


def _rng(seed: int, index: int, salt: str = "") -> random.Random:
    return random.Random(f"{seed}:{index}:{salt}")


def _person(rnd: random.Random) -> tuple[str, str, str]:
    first, last = rnd.choice(FIRST_NAMES), rnd.choice(LAST_NAMES)
    return first, last, f"{first.lower()}.{last.lower()}@example.com"


def payload(kind: str, seed: int, index: int) -> Any:
    """A realistic payload for the work item `index` of a process of payload family `kind`."""
    rnd = _rng(seed, index, "payload")
    day = f"2024-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}"
    if kind == "invoice":
        lines = rnd.randint(1, 4)
        return {
            "invoice_number": f"INV-{2024_00000 + index % 100000:09d}",
            "supplier": rnd.choice(COMPANIES),
            "vat_id": f"FI{rnd.randint(10000000, 99999999)}",
            "invoice_date": day,
            "currency": rnd.choice(CURRENCIES),
            "amount": round(rnd.uniform(40, 25000), 2),
            "lines": [
                {"product": rnd.choice(PRODUCTS), "qty": rnd.randint(1, 50)}
                for _ in range(lines)
            ],
        }
    if kind == "order":
        return {
            "order_id": 40000 + index % 60000,
            "customer": rnd.choice(COMPANIES),
            "sap_client": rnd.choice(("100", "200", "300")),
            "items": [
                {"sku": rnd.choice(PRODUCTS).split()[0], "qty": rnd.randint(1, 20)}
                for _ in range(rnd.randint(1, 3))
            ],
            "requested_delivery": day,
            "priority": rnd.choice(("normal", "normal", "high")),
        }
    if kind == "customer":
        first, last, email = _person(rnd)
        return {
            "customer_id": f"C-{100000 + index % 900000}",
            "first_name": first,
            "last_name": last,
            "email": email,
            "city": rnd.choice(CITIES),
            "segment": rnd.choice(("SMB", "Enterprise", "Consumer")),
            "signed_at": day,
        }
    if kind == "payroll":
        first, last, _ = _person(rnd)
        return {
            "employee_id": f"E{10000 + index % 90000}",
            "employee": f"{first} {last}",
            "period": f"2024-{rnd.randint(1, 12):02d}",
            "gross": round(rnd.uniform(2500, 9000), 2),
            "cost_center": f"CC-{rnd.randint(100, 999)}",
        }
    if kind == "ticket":
        _, _, email = _person(rnd)
        return {
            "ticket": f"INC{rnd.randint(1000000, 9999999)}",
            "reporter": email,
            "subject": rnd.choice(
                (
                    "VPN not connecting",
                    "Invoice copy request",
                    "Password reset",
                    "Laptop replacement",
                    "Access to SAP",
                )
            ),
            "priority": rnd.choice(("P3", "P3", "P2", "P1")),
            "opened": day,
        }
    return {
        "reference": f"REF-{index:07d}",
        "created": day,
        "value": rnd.randint(1, 1000),
    }


_BUSINESS = (
    ("ORDER_NOT_FOUND", "Order {n5} not found in SAP"),
    ("INVALID_VAT_ID", "Customer {email} has no VAT id"),
    ("DUPLICATE_INVOICE", "Invoice INV-{n9} already booked on {date}"),
    (
        "AMOUNT_MISMATCH",
        "Invoice total {amount} EUR does not match PO {n5} total {amount2} EUR",
    ),
    ("MISSING_COST_CENTER", "Employee E{n5} has no cost center for period {period}"),
    ("CUSTOMER_BLOCKED", "Customer C-{n6} is blocked for deliveries"),
    ("INVALID_EMAIL", "Address {email}x is not a valid e-mail address"),
)
_APPLICATION = (
    ("ELEMENT_NOT_FOUND", "Timeout after {ms} ms waiting for element #submit"),
    ("SAP_GUI_ERROR", "SAP GUI session {n2} closed unexpectedly (rc={n2b})"),
    ("HTTP_ERROR", "HTTP 502 from https://erp.example.com/api/orders/{n5}"),
    ("PDF_PARSE_ERROR", "Could not parse page {n1} of invoice_{n5}.pdf"),
    ("LOGIN_FAILED", "Login to portal failed for user rpa-bot-{n2}: session expired"),
    (
        "BROWSER_CRASHED",
        "Chromium crashed while opening https://portal.example.com/tickets/{n6}",
    ),
)
_ORCHESTRATOR = (
    ("WORKER_LOST", "Worker worker-eu1-{n2} lost connection during step"),
    ("STEP_TIMEOUT", "Step exceeded the maximum run time of {mins} minutes"),
    (
        "ENVIRONMENT_SETUP_FAILED",
        "Environment build failed: conda package {pkg} unavailable",
    ),
)


def exception_for(
    rnd: random.Random, mix: tuple[float, float, float]
) -> tuple[str, str, str]:
    """Pick (type, code, message) following a (business, application, orchestrator) weight mix."""
    kind = rnd.choices(("business", "application", "orchestrator"), weights=mix)[0]
    table = {
        "business": _BUSINESS,
        "application": _APPLICATION,
        "orchestrator": _ORCHESTRATOR,
    }[kind]
    code, template = rnd.choice(table)
    _, _, email = _person(rnd)
    message = template.format(
        n1=rnd.randint(1, 9),
        n2=rnd.randint(10, 99),
        n2b=rnd.randint(1, 99),
        n5=rnd.randint(10000, 99999),
        n6=rnd.randint(100000, 999999),
        n9=rnd.randint(100000000, 999999999),
        email=email,
        date=f"2024-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}",
        period=f"2024-{rnd.randint(1, 12):02d}",
        amount=f"{rnd.uniform(50, 9000):.2f}",
        amount2=f"{rnd.uniform(50, 9000):.2f}",
        ms=rnd.choice((10000, 30000, 60000)),
        mins=rnd.choice((30, 60, 120)),
        pkg=rnd.choice(
            ("rpaframework=28.5.1", "robocorp-browser=2.3.0", "python=3.10.12")
        ),
    )
    return kind, code, message


def file_for(kind: str, seed: int, index: int) -> list[tuple[str, str, int]]:
    """Seeded item files as (file_id, name, size); about 1 in 25 items of documents-heavy kinds has one."""
    if kind not in ("invoice", "order", "ticket") or index % 25 != 7:
        return []
    rnd = _rng(seed, index, "file")
    name = {
        "invoice": f"invoice_{index}.pdf",
        "order": f"order_{index}.xlsx",
        "ticket": f"screenshot_{index}.png",
    }[kind]
    return [(f"f{index:x}-{seed % 1000:03d}", name, rnd.randint(12_000, 900_000))]


def iso(ts: float) -> str:
    """ISO-8601 UTC with milliseconds and a trailing Z, as Control Room emits."""
    whole = int(ts)
    ms = round((ts - whole) * 1000)
    if ms >= 1000:
        whole, ms = whole + 1, ms - 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{ms:03d}Z"


def tiny_png(seed: int) -> bytes:
    """A valid 32x20 RGB PNG (a 'screenshot' artifact) whose colours depend on the seed."""
    rnd = random.Random(seed)
    width, height = 32, 20
    base = (rnd.randint(0, 255), rnd.randint(0, 255), rnd.randint(0, 255))
    rows = b"".join(b"\x00" + bytes(base) * width for _ in range(height))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + tag
            + data
            + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
