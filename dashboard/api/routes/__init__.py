"""The /api/ endpoints, one module per resource; each is a thin adapter from HTTP to the
services every page uses.

Each call runs as the token's principal (`request.user`, set by `conventions.ApiMiddleware`),
so `Scope.for_user`, `actions.apply`, bulk drafts/confirm/cancel and the audit trail apply the
same rules as in the UI: another team's ids are 404, a viewer cannot act.
"""
