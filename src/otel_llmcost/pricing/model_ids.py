"""Which model id a call is priced as: the platform spellings of one model brought to the id the price data knows.

The same Claude model is ``claude-sonnet-4-5-20250929`` at Anthropic, ``claude-sonnet-4-5@20250929`` on Vertex AI,
and on Bedrock ``us.anthropic.claude-sonnet-4-5-20250929-v1:0`` (a cross-region inference profile, priced
like the in-region model), ``global.anthropic.…`` (a global profile, priced lower) or an ARN naming one of
those. Reads only provider and model ids; knows nothing about SDKs or telemetry.
"""

from __future__ import annotations

import re

# Vertex AI names a model version with "@": claude-sonnet-4-5@20250929.
_VERTEX_VERSION = re.compile(r"@(\d{8})$")
# Bedrock ARNs whose last segment is a model or inference-profile id that the price data knows.
_BEDROCK_ARN_KINDS = ("foundation-model/", "inference-profile/")


def bedrock_model_id(model: str) -> str:
    """A Bedrock model reference without its ARN wrapper; opaque ARNs are returned unchanged.

    ``arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-…-v1:0`` becomes
    ``us.anthropic.claude-…-v1:0``; an ``application-inference-profile`` or ``provisioned-model`` ARN
    does not say which model it serves and stays as it is (an alias in the price file can name it).
    """
    if not model.startswith("arn:"):
        return model
    for kind in _BEDROCK_ARN_KINDS:
        at = model.find(":" + kind)
        if at >= 0:
            return model[at + 1 + len(kind) :] or model
    return model


def _is_opaque_arn(model: str) -> bool:
    return model.startswith("arn:") and bedrock_model_id(model) == model


def google_model_id(model: str) -> str:
    """A Gemini / Vertex AI model reference as its bare id.

    ``models/gemini-2.5-pro`` (Gemini API), ``publishers/google/models/gemini-2.5-pro`` and
    ``projects/p/locations/l/publishers/google/models/gemini-2.5-pro`` (Vertex AI resource names) and
    ``google/gemini-2.5-pro`` all name ``gemini-2.5-pro``; a tuned model or endpoint id stays as it is.
    """
    at = model.rfind("models/")
    if at >= 0 and (at == 0 or model[at - 1] == "/"):
        return model[at + len("models/") :] or model
    if model.startswith("google/"):
        return model[len("google/") :] or model
    return model


def normalize_model_id(model: str) -> str:
    """A model id as the price data spells it (Bedrock ARNs unwrapped, Vertex ``@version`` as ``-version``)."""
    if model.startswith("arn:"):
        return bedrock_model_id(model)
    if "@" in model:
        return _VERTEX_VERSION.sub(r"-\1", model)
    return model


def price_model(provider: str, request_model: str | None, response_model: str | None) -> str | None:
    """The model id to price a call as.

    Normally the model that answered (a dated id is more precise than an alias). On Bedrock the requested id
    wins: it carries the routing (``global.`` / ``us.`` / ``eu.`` / ``apac.`` profile or ARN) that sets the
    price, while the response names only the base model. An opaque ARN falls back to the response's model.
    """
    if provider == "aws.bedrock" and request_model and not _is_opaque_arn(request_model):
        model: str | None = request_model
    else:
        model = response_model or request_model
    if model and provider.startswith("gcp."):
        model = google_model_id(model)
    return normalize_model_id(model) if model else model
