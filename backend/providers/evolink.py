"""EvoLink.ai: ``z-image-turbo`` as an async task.

``POST {EVOLINK_BASE_URL}/v1/images/generations`` creates a task; ``GET /v1/tasks/{id}``
reports ``pending`` -> ``processing`` (with ``progress`` 0-100) -> ``completed`` with
``results[0]`` a URL to download, or ``failed`` with ``error.code``. One image per task;
the progress EvoLink reports is passed on as real step progress.

The result URL comes from the API's answer, so it is checked before it is fetched: only
http(s), no private, link-local or loopback addresses (loopback only when the base URL is
itself loopback, as a local fake server is), redirects re-checked, and the API key is
never sent to it. (Wire format: shared/docs/provider-apis.md section 5.)
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import requests

from backend.providers.base import GeneratedImage, GenerationContext, GenerationRequest, ModelInfo
from backend.providers.http_api import (
    ApiError,
    HttpProvider,
    check_download_url,
    is_loopback_host,
    json_or_none,
    parse_retry_after,
    short,
    status_error,
)

# Ratios EvoLink names are sent by name; 4:5, 5:4 and 21:9 as custom WxH (sides 376-1536).
NAMED_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "9:16", "16:9")
SIZES = {
    "1:1": (1024, 1024),
    "2:3": (832, 1216),
    "3:2": (1216, 832),
    "3:4": (864, 1152),
    "4:3": (1152, 864),
    "9:16": (768, 1344),
    "16:9": (1344, 768),
    "4:5": (896, 1152),
    "5:4": (1152, 896),
    "21:9": (1536, 640),
}
MAX_SEED = 2147483647  # EvoLink seeds are 1..2^31-1
MAX_REDIRECTS = 3
TASK_ERRORS = {
    "content_policy_violation": "moderation_blocked",
    "invalid_parameters": "invalid_request",
    "image_processing_error": "invalid_request",
    "image_dimension_mismatch": "invalid_request",
    "resource_not_found": "invalid_request",
    "request_cancelled": "provider_unavailable",
    "generation_timeout": "timeout",
    "resource_exhausted": "rate_limited",
    "quota_exceeded": "quota",
}


def api_seed(seed: int) -> int:
    """Atelier seeds are 0..2^32-1; EvoLink takes 1..2^31-1. The same seed maps the same way."""
    return seed % MAX_SEED + 1


class EvoLinkProvider(HttpProvider):
    id = "evolink"
    label = "EvoLink"
    key_vars = ("EVOLINK_API_KEY",)
    base_url_var = "EVOLINK_BASE_URL"
    default_base_url = "https://api.evolink.ai"

    def models(self) -> list[ModelInfo]:
        return [
            ModelInfo(
                id="z-image-turbo",
                label="Z-Image-Turbo",
                sizes=SIZES,
                max_images=10,
                supports_seed=True,
                supports_negative_prompt=False,
                steps=None,
                step_progress=True,
                price_per_image=None,  # billed in EvoLink credits (0.026 per call); no USD rate published
            )
        ]

    def body(self, request: GenerationRequest, index: int) -> dict[str, Any]:
        ratio = request.aspect_ratio
        body: dict[str, Any] = {
            "model": request.model,
            "prompt": request.styled_prompt,
            "size": ratio if ratio in NAMED_RATIOS else f"{request.width}x{request.height}",
        }
        seed = request.seed_for(index)
        if seed is not None:
            body["seed"] = api_seed(seed)
        return body

    def generate(self, request: GenerationRequest, ctx: GenerationContext) -> Iterator[GeneratedImage]:
        headers = {"Authorization": f"Bearer {self.require_key()}", "Accept": "application/json"}
        url = f"{self.base_url()}/v1/images/generations"
        for index, response in self.post_per_image(
            request, ctx, url, headers, lambda i: {"json": self.body(request, i)}
        ):
            task = self.client.json(response)
            task_id = task.get("id")
            if not isinstance(task_id, str) or not task_id:
                raise ApiError("bad_response", f"{self.label} created a task without an id. Retry later.")
            done = self.poll(task_id, headers, index, request.n, ctx)
            url = self.result_url(done)
            ctx.status(f"downloading image {index + 1} of {request.n} from {self.label}")
            data = self.download(url, ctx)
            metadata: dict[str, Any] = {"task_id": task_id, "provider_seed": self.body(request, index).get("seed")}
            usage = task.get("usage")
            if isinstance(usage, dict) and "credits_reserved" in usage:
                metadata["credits_reserved"] = usage["credits_reserved"]
            yield GeneratedImage(index=index, data=data, seed=request.seed_for(index), metadata=metadata)

    def poll(self, task_id: str, headers: dict[str, str], index: int, n: int, ctx: GenerationContext) -> dict[str, Any]:
        url = f"{self.base_url()}/v1/tasks/{urllib.parse.quote(task_id, safe='')}"
        deadline = time.monotonic() + self.settings.task_timeout
        while True:
            task = self.client.json(self.client.request("GET", url, ctx, headers=headers))
            status = task.get("status")
            if status == "completed":
                ctx.step(index, 100, 100, f"{self.label} finished image {index + 1} of {n}")
                return task
            if status == "failed":
                raise self.task_error(task)
            if status not in ("pending", "processing"):
                raise ApiError("bad_response", f"{self.label} reported an unknown task status {short(status, 40)!r}.")
            progress = task.get("progress")
            percent = int(progress) if isinstance(progress, int | float) and not isinstance(progress, bool) else 0
            percent = min(max(percent, 0), 99)
            ctx.step(index, percent, 100, f"{self.label} task {status} ({percent}%), image {index + 1} of {n}")
            if time.monotonic() + self.settings.poll_interval > deadline:
                raise ApiError(
                    "timeout",
                    f"{self.label} did not finish the task within {self.settings.task_timeout:g} s "
                    "(ATELIER_TASK_TIMEOUT_SECONDS). Retry later.",
                )
            self.client.wait(self.settings.poll_interval, ctx)

    def task_error(self, task: dict[str, Any]) -> ApiError:
        error = task.get("error") if isinstance(task.get("error"), dict) else {}
        code = str(error.get("code") or "unknown_error")
        message = short(self.client.redact(str(error.get("message") or "")))
        ours = TASK_ERRORS.get(code, "provider_unavailable")
        advice = {
            "moderation_blocked": "Rephrase the prompt.",
            "invalid_request": "Change the request.",
            "quota": "Add credits to the EvoLink account.",
        }.get(ours, "Retry later or pick another provider.")
        return ApiError(
            ours, f"{self.label} task failed ({code}){': ' + message if message else ''}. {advice}", transient=False
        )

    def result_url(self, task: dict[str, Any]) -> str:
        results = task.get("results")
        if not isinstance(results, list) or not results or not isinstance(results[0], str):
            raise ApiError("bad_response", f"{self.label} finished the task without a result URL. Retry later.")
        return results[0]

    def download(self, url: str, ctx: GenerationContext) -> bytes:
        """GET the result without the API key, re-checking every redirect."""
        allow_loopback = is_loopback_host(urllib.parse.urlsplit(self.base_url()).hostname or "")
        for _ in range(MAX_REDIRECTS + 1):
            check_download_url(url, allow_loopback)
            response = self.client.request(
                "GET", url, ctx, waiting=f"downloading from {self.label}", allow_redirects=False, stream=True
            )
            if response.is_redirect and response.headers.get("location"):
                url = urllib.parse.urljoin(url, response.headers["location"])
                response.close()
                continue
            return self.client.image_bytes(self._read_limited(response), "a result file")
        raise ApiError("bad_response", f"the {self.label} result URL redirected too many times.")

    def _read_limited(self, response: requests.Response) -> bytes:
        limit = self.settings.max_download_bytes
        chunks, size = [], 0
        try:
            for chunk in response.iter_content(64 * 1024):
                size += len(chunk)
                if size > limit:
                    raise ApiError("bad_response", f"the {self.label} result is over ATELIER_MAX_DOWNLOAD_MB.")
                chunks.append(chunk)
        except (requests.exceptions.ChunkedEncodingError, requests.ConnectionError):
            raise ApiError(
                "bad_response",
                f"the download from {self.label} was cut off before the end. Retry the job.",
                retryable=True,
            ) from None
        finally:
            response.close()
        return b"".join(chunks)

    def classify_error(self, response: requests.Response) -> ApiError:
        body = json_or_none(response)
        error = body.get("error") if isinstance(body, dict) else None
        error = error if isinstance(error, dict) else {}
        detail = short(error.get("message") or "")
        if error.get("fallback_suggestion"):
            detail = f"{detail} ({short(error['fallback_suggestion'], 120)})"
        return status_error(
            response.status_code, self.label, "EVOLINK_API_KEY", detail, parse_retry_after(response.headers)
        )
