from angzarr_testkit._generated.angzarr import types_pb2 as _types_pb2
from google.protobuf import any_pb2 as _any_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ReplayRequest(_message.Message):
    __slots__ = ("base_snapshot", "events")
    BASE_SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    base_snapshot: _types_pb2.Snapshot
    events: _containers.RepeatedCompositeFieldContainer[_types_pb2.EventPage]
    def __init__(self, base_snapshot: _Optional[_Union[_types_pb2.Snapshot, _Mapping]] = ..., events: _Optional[_Iterable[_Union[_types_pb2.EventPage, _Mapping]]] = ...) -> None: ...

class ReplayResponse(_message.Message):
    __slots__ = ("state",)
    STATE_FIELD_NUMBER: _ClassVar[int]
    state: _any_pb2.Any
    def __init__(self, state: _Optional[_Union[_any_pb2.Any, _Mapping]] = ...) -> None: ...

class CommandResponse(_message.Message):
    __slots__ = ("events", "projections", "cascade_errors")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    PROJECTIONS_FIELD_NUMBER: _ClassVar[int]
    CASCADE_ERRORS_FIELD_NUMBER: _ClassVar[int]
    events: _types_pb2.EventBook
    projections: _containers.RepeatedCompositeFieldContainer[_types_pb2.Projection]
    cascade_errors: _containers.RepeatedCompositeFieldContainer[CascadeError]
    def __init__(self, events: _Optional[_Union[_types_pb2.EventBook, _Mapping]] = ..., projections: _Optional[_Iterable[_Union[_types_pb2.Projection, _Mapping]]] = ..., cascade_errors: _Optional[_Iterable[_Union[CascadeError, _Mapping]]] = ...) -> None: ...

class CascadeError(_message.Message):
    __slots__ = ("component_name", "component_type", "error_message", "source_domain")
    COMPONENT_NAME_FIELD_NUMBER: _ClassVar[int]
    COMPONENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_DOMAIN_FIELD_NUMBER: _ClassVar[int]
    component_name: str
    component_type: str
    error_message: str
    source_domain: str
    def __init__(self, component_name: _Optional[str] = ..., component_type: _Optional[str] = ..., error_message: _Optional[str] = ..., source_domain: _Optional[str] = ...) -> None: ...

class RevocationResponse(_message.Message):
    __slots__ = ("emit_system_revocation", "send_to_dead_letter_queue", "escalate", "abort", "reason")
    EMIT_SYSTEM_REVOCATION_FIELD_NUMBER: _ClassVar[int]
    SEND_TO_DEAD_LETTER_QUEUE_FIELD_NUMBER: _ClassVar[int]
    ESCALATE_FIELD_NUMBER: _ClassVar[int]
    ABORT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    emit_system_revocation: bool
    send_to_dead_letter_queue: bool
    escalate: bool
    abort: bool
    reason: str
    def __init__(self, emit_system_revocation: bool = ..., send_to_dead_letter_queue: bool = ..., escalate: bool = ..., abort: bool = ..., reason: _Optional[str] = ...) -> None: ...

class BusinessResponse(_message.Message):
    __slots__ = ("events", "revocation", "notification")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    REVOCATION_FIELD_NUMBER: _ClassVar[int]
    NOTIFICATION_FIELD_NUMBER: _ClassVar[int]
    events: _types_pb2.EventBook
    revocation: RevocationResponse
    notification: _types_pb2.Notification
    def __init__(self, events: _Optional[_Union[_types_pb2.EventBook, _Mapping]] = ..., revocation: _Optional[_Union[RevocationResponse, _Mapping]] = ..., notification: _Optional[_Union[_types_pb2.Notification, _Mapping]] = ...) -> None: ...

class SpeculateCommandHandlerRequest(_message.Message):
    __slots__ = ("command", "point_in_time")
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    POINT_IN_TIME_FIELD_NUMBER: _ClassVar[int]
    command: _types_pb2.CommandBook
    point_in_time: _types_pb2.TemporalQuery
    def __init__(self, command: _Optional[_Union[_types_pb2.CommandBook, _Mapping]] = ..., point_in_time: _Optional[_Union[_types_pb2.TemporalQuery, _Mapping]] = ...) -> None: ...

class FactInjectionResponse(_message.Message):
    __slots__ = ("events", "already_processed", "projections")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    ALREADY_PROCESSED_FIELD_NUMBER: _ClassVar[int]
    PROJECTIONS_FIELD_NUMBER: _ClassVar[int]
    events: _types_pb2.EventBook
    already_processed: bool
    projections: _containers.RepeatedCompositeFieldContainer[_types_pb2.Projection]
    def __init__(self, events: _Optional[_Union[_types_pb2.EventBook, _Mapping]] = ..., already_processed: bool = ..., projections: _Optional[_Iterable[_Union[_types_pb2.Projection, _Mapping]]] = ...) -> None: ...
