"""Artifact pipeline: stores, manifests, validation on registration and governed copies on promotion.

Entry points other apps use: `stores.store_for_uri`, `services.version_evidence`,
`services.promotion_copy_start`, `services.governed_copy_start`.
"""
