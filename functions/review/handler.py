"""ReviewFunction: the operators' API and console on Lambda, behind API Gateway's JWT authorizer."""

from typing import Any

from aws_lambda_powertools import Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from mangum import Mangum

from prescreen.api.review import app
from prescreen.webhook import logger

tracer = Tracer(service="prescreen")
# The console's script and style are text too: without them Mangum would base64-encode them.
asgi_handler = Mangum(app, lifespan="off", text_mime_types=[
    "application/json", "application/problem+json", "text/html", "text/css", "text/javascript",
])


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response: dict[str, Any] = asgi_handler(event, context)  # type: ignore[arg-type]  # same object, two stubs
    return response
