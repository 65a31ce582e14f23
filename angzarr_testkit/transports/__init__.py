"""Real transports: handlers served elsewhere, and a real message broker.

* :mod:`angzarr_testkit.transports.grpc` (extra ``grpc``): ``grpc://host:port`` saga and
  process-manager targets, and :func:`~angzarr_testkit.transports.grpc.serve` to put a Python
  handler behind a real gRPC server.
* :mod:`angzarr_testkit.transports.rabbitmq` (extra ``rabbitmq``): storm deliveries through a
  real RabbitMQ queue (``Storm(..., broker=URL)``).

Each transport imports its third-party client itself; importing this package imports none of
them, so a missing extra only matters to the transport that needs it. Transports sit on top of
the framework and the simulation (DESIGN.md section 2), which reach them only lazily, at call
time (a ``grpc://`` target string, a ``broker=`` URL).
"""
