"""An OpenAI ``POST /v1/images/edits`` request as the body of the studio's edit tool
(``POST /api/edit``, services/tools/edit.py): the operation (``general``, ``inpaint`` with a
mask), the provider that can do it, the quality in its words, OpenAI's mask convention
turned into Atelier's. The images themselves are submitted by services/client_edits.py.
"""

from __future__ import annotations

import base64
import io
from typing import Any

from PIL import Image

from backend.services.client_models import model_id
from backend.services.openai_dialect import Ask, OpenAIError, check_n, check_upload, edit_warnings, nearest_quality
from backend.services.openai_models import ModelCatalog
from backend.services.validation import Warning_


def edit_body(ask: Ask, sizes: list[tuple[int, int]], mask: bytes | None, catalog: ModelCatalog) -> dict[str, Any]:
    """The edit body of an Ask whose images measure ``sizes``; warnings go into ``ask.warnings``."""
    operation = "inpaint" if mask is not None else "general"
    body: dict[str, Any] = {"operation": operation, "prompt": ask.prompt, "n": ask.n}
    body.update(_provider(ask, operation, catalog))
    _quality(ask, body, catalog)
    if ask.seed is not None:
        body["seed"] = ask.seed
    if mask is not None:
        body["mask"] = "data:image/png;base64," + base64.b64encode(studio_mask(mask, sizes[0])).decode()
    edit_warnings(ask)
    return body


def _provider(ask: Ask, operation: str, catalog: ModelCatalog) -> dict[str, Any]:
    """``provider`` and ``model``. A model that cannot edit is refused, unless the client named
    it only by OpenAI's habit (none, or ``gpt-image-1`` not set in ATELIER_MODEL_ALIASES): then
    the first available provider that can edit does it, with a warning."""
    model = catalog.require(ask.model)
    provider = catalog.registry.get(model.provider)
    if provider is not None and operation in provider.edit_operations:
        check_n(ask, catalog.info(model), model.id)
        return {"provider": model.provider, "model": model.model}
    able = [p for p in catalog.registry if operation in p.edit_operations and p.availability()[0]]
    if not catalog.habitual(ask.model) or not able:
        who = ", ".join(model_id(p.id, p.default_model()) for p in able) or "none is available"
        raise OpenAIError(400, f"{model.id} cannot edit images; models that can: {who}", "model", "model_cannot_edit")
    chosen = able[0]
    used = model_id(chosen.id, chosen.default_model())
    ask.warnings.append(Warning_("model", f"{model.id} cannot edit images; {used} did the edit", ask.model, used))
    return {"provider": chosen.id}


def _quality(ask: Ask, body: dict[str, Any], catalog: ModelCatalog) -> None:
    provider = catalog.registry.get(body["provider"])
    info = provider.model(body.get("model") or provider.default_model()) if provider else None
    if ask.quality is None or info is None:
        return
    quality = nearest_quality(ask.quality, info)
    if quality in info.qualities:
        body["quality"] = quality
        if quality != ask.quality:
            message = f"{info.label} calls quality {ask.quality!r} {quality!r}"
            ask.warnings.append(Warning_("quality", message, ask.quality, quality))
    else:
        offers = ", ".join(info.qualities) or "no quality setting"
        message = f"{info.label} has {offers}; quality {ask.quality!r} was not used"
        ask.warnings.append(Warning_("quality", message, ask.quality, None))


def studio_mask(data: bytes, size: tuple[int, int]) -> bytes:
    """OpenAI's mask (transparent = change) as Atelier's (white = change), a PNG. A mask
    with no transparency at all is read as Atelier's own (white = change)."""
    mask_size = check_upload(data, "mask")
    if mask_size != size:
        message = (
            f"the mask is {mask_size[0]}x{mask_size[1]} but the image is {size[0]}x{size[1]}; "
            "send a mask of the image's size"
        )
        raise OpenAIError(400, message, "mask", "invalid_mask")
    with Image.open(io.BytesIO(data)) as im:
        rgba = im.convert("RGBA")
    alpha = rgba.getchannel("A")
    if alpha.getextrema()[0] < 255:
        change = alpha.point(lambda v: 255 if v < 128 else 0)
    else:
        change = rgba.convert("L").point(lambda v: 255 if v >= 128 else 0)
    buf = io.BytesIO()
    change.save(buf, format="PNG")
    return buf.getvalue()
