"""moto's server, with each DynamoDB request applied atomically, as DynamoDB does.

moto serves requests on threads but its DynamoDB backend has no lock: a TransactWriteItems
snapshots the tables, writes, and on a failed condition restores the snapshot, wiping out any
request that committed in between; conditional puts and ADD updates are read-modify-write too.
Under concurrent writers (the tests' racing deliveries and bookings) that loses committed writes,
which DynamoDB never does. One lock around DynamoDB requests gives them DynamoDB's isolation;
other services (SQS long polls) stay concurrent. Same arguments as `moto_server`.
"""

import sys
import threading

from moto.dynamodb.responses import DynamoHandler
from moto.server import main

_dynamodb_lock = threading.Lock()
_call_action = DynamoHandler.call_action


def _serialised_call_action(self):  # type: ignore[no-untyped-def]
    with _dynamodb_lock:
        return _call_action(self)


DynamoHandler.call_action = _serialised_call_action  # type: ignore[method-assign]

if __name__ == "__main__":
    main(sys.argv[1:])
