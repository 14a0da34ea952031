"""The MLflow-compatible front: the model-registry REST API and a read-only artifact proxy.

A thin layer over registry.services and registry.selectors that speaks MLflow's wire format.
"""
