"""Hooks the upper floors listen to.

`accounts` sits below `audit`, so it cannot call the audit trail itself; its
services announce what they did and `dashboard.audit` records it (connected in
`AuditConfig.ready`). The signal is sent inside the service's transaction, so the
change and its audit event commit or roll back together.
"""

from __future__ import annotations

from django.dispatch import Signal

# kwargs: request, team, action, obj, summary, data, actor
team_event = Signal()
