"""ScreenFunction: the screening webhook on Lambda. Parsing, screening and errors live in the layer."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from mangum import Mangum

from prescreen.api.screen import app
from prescreen.policy.provider import preload_policies
from prescreen.webhook import logger, metrics

# problem+json is text: without it Mangum would base64-encode every error body.
asgi_handler = Mangum(app, lifespan="off", text_mime_types=["application/json", "application/problem+json"])
# During Lambda init, outside any request: the default policy, precompiled with the layer (overlays load on
# their first request: each would add ~80 ms to every cold start).
preload_policies("default")

# No Powertools Tracer here: importing the X-Ray SDK costs ~190 ms of every cold start (make bench), and the
# function's own segment still reaches X-Ray through `Tracing: Active` in template.yaml.


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response: dict[str, Any] = asgi_handler(event, context)  # type: ignore[arg-type]  # same object, two stubs
    return response
