"""QueueAgeFunction: every few minutes, how long the oldest undecided review has waited (metric + alarm)."""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from prescreen.review.queue_age import measure_queue_ages
from prescreen.settings import get_settings
from prescreen.webhook import logger, metrics


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    ages = measure_queue_ages(get_settings())
    oldest = ages.oldest
    # One metric across marketplaces is what the alarm watches; the log line names each marketplace.
    metrics.add_metric(name="OldestUndecidedReviewAgeSeconds", unit=MetricUnit.Seconds, value=oldest)
    logger.info("review queue ages", extra={"ages_seconds": ages.ages})
    return {"oldest_seconds": oldest, "marketplaces": ages.ages}
