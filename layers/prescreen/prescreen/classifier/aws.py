"""botocore failures as ClassifierUnavailable, shared by the SageMaker and Bedrock adapters."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, ReadTimeoutError

from prescreen.classifier.base import ClassifierUnavailable


@contextmanager
def aws_call(name: str) -> Iterator[None]:
    try:
        yield
    except (ConnectTimeoutError, ReadTimeoutError) as error:
        raise ClassifierUnavailable("timeout", f"{name}: {error}") from error
    except ClientError as error:
        raise ClassifierUnavailable("http_error", f"{name}: {error}") from error
    except BotoCoreError as error:
        raise ClassifierUnavailable("connection", f"{name}: {error}") from error
