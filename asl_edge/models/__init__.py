"""Model builders, selected by name from one registry (see :mod:`asl_edge.models.registry`)."""

from asl_edge.models.registry import ModelConfig, ModelSpec, create_model, get_spec, list_models

__all__ = ["ModelConfig", "ModelSpec", "create_model", "get_spec", "list_models"]
