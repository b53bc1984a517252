# The audit log page (backend/panel/pages/audit_log.py).

audit-title = Audit log
audit-filters = Filters
audit-admin = Admin
audit-any-admin = Any admin
audit-entity = Table
audit-any-entity = Any table
audit-entity-id = Record id
audit-action = Action
audit-any-action = Any action
audit-action-create = Created
audit-action-update = Changed
audit-action-delete = Deleted
audit-date-from = From (UTC)
audit-date-to = To (UTC, included)
audit-apply = Filter
audit-reset = Reset
audit-when = When (UTC)
audit-who = Who
audit-record = Record
audit-changes = Changes
audit-field = Field
audit-before = Before
audit-after = After
audit-empty = No records match.
