"""Artifact pipeline: stores, manifests, validation on registration and governed copies on promotion.

Entry points other apps use: `stores.store_for_uri`, `services.version_evidence`,
`services.governed_copy_exists`, `services.governed_copy_queue_for_request`,
`services.governed_copy_start`; it publishes `events.GovernedCopyFinished`.
"""
