"""ScreenFunction: the screening webhook on Lambda. Parsing, screening and errors live in the layer."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from prescreen.api.lambda_screen import answer_screen_event
from prescreen.webhook import logger, metrics
from prescreen.wiring import default_screen_service, initialise_screening

# Lambda init, outside any request: the default policy (precompiled with the layer) and the service.
initialise_screening()

# No Powertools Tracer here: importing the X-Ray SDK costs ~190 ms of every cold start (make bench), and the
# function's own segment still reaches X-Ray through `Tracing: Active` in template.yaml. No FastAPI either
# (prescreen/api/lambda_screen.py says why).


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return answer_screen_event(event, default_screen_service)
