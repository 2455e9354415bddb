"""Thin Lambda handlers: parse the event, call the domain/storage, shape the answer.

Importing any of them first defers Powertools' packages that only re-export their
submodules (``deferred``): a handler then imports the resolver and event classes it uses,
not every one Powertools has.
"""

from query_service.lambdas.deferred import defer

DEFERRED = (
    "aws_lambda_powertools",  # first: finding any of the others imports it
    "aws_lambda_powertools.event_handler",
    "aws_lambda_powertools.utilities.data_classes",
    "aws_lambda_powertools.utilities.batch",
)
defer(*DEFERRED)
