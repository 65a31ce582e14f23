"""Real transports: handlers served elsewhere, and a real message broker.

* :mod:`angzarr_testkit.transports.grpc` (extra ``grpc``): ``grpc://host:port`` saga and
  process-manager targets, and :func:`~angzarr_testkit.transports.grpc.serve` to put a Python
  handler behind a real gRPC server.
* :mod:`angzarr_testkit.transports.rabbitmq` (extra ``rabbitmq``): storm deliveries through a
  real RabbitMQ queue (``Storm(..., broker=URL)``).

Each transport imports its third-party client itself; importing this package imports none of
them, so a missing extra only matters to the transport that needs it. Transports sit on top of
the framework and the simulation (docs/architecture.md) and are never
imported by them: ``grpc://`` target strings reach grpc.py lazily, at call time, and
rabbitmq.py registers its bus with :mod:`angzarr_testkit.simulate.bus` (the package facade
imports it), so a ``broker=`` URL opens it without the storm importing a transport.
"""
