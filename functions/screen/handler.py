"""ScreenFunction: the screening webhook on Lambda. Parsing, screening and errors live in the layer."""

from typing import Any

from aws_lambda_powertools import Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from mangum import Mangum

from prescreen.api.screen import app
from prescreen.policy.provider import preload_policies
from prescreen.webhook import logger, metrics

tracer = Tracer(service="prescreen")
# problem+json is text: without it Mangum would base64-encode every error body.
asgi_handler = Mangum(app, lifespan="off", text_mime_types=["application/json", "application/problem+json"])
# During Lambda init, outside any request: the bundled policies, precompiled with the layer.
preload_policies()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response: dict[str, Any] = asgi_handler(event, context)  # type: ignore[arg-type]  # same object, two stubs
    return response
